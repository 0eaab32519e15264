// duet's admin page: rooms and members from the admin API, refreshed every
// two seconds, with end and kick buttons, and key figures from /metrics.
// The key lives in this tab's sessionStorage and goes out only as a bearer
// header; data from clients (rooms, addresses) is set as text, never HTML.

const POLL_MS = 2000;
const CONFIRM_MS = 4000;
const KEY = 'duetAdminKey';

const $ = (id) => document.getElementById(id);

const state = {
  key: sessionStorage.getItem(KEY) || '',
  rooms: [],
  stats: null,
  metrics: null,
  coverage: null,
  error: '',
  notice: '',
  updated: 0,
  polls: 0,
  prevMetrics: null,
};
window.duetAdmin = state; // for tests and the curious

class Unauthorized extends Error {}

async function api(method, path) {
  const r = await fetch(path, { method, cache: 'no-store', headers: { Authorization: 'Bearer ' + state.key } });
  if (r.status === 401) throw new Unauthorized('wrong key');
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.status + ' ' + r.statusText);
  return body;
}

// parseMetrics reads Prometheus' text format into [{name, labels, value}].
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) out.push({ name: m[1], labels: m[2] || '', value: Number(m[3]) });
  }
  return out;
}

function metric(ms, name, label) {
  if (!ms) return null;
  let sum = null;
  for (const m of ms) {
    if (m.name === name && (!label || m.labels.includes(label))) sum = (sum || 0) + m.value;
  }
  return sum;
}

async function poll() {
  if (!state.key) return;
  try {
    const [rooms, stats, metricsText] = await Promise.all([
      api('GET', '/v1/admin/rooms'),
      api('GET', '/v1/admin/stats'),
      fetch('/metrics', { cache: 'no-store' }).then((r) => (r.ok ? r.text() : '')).catch(() => ''),
    ]);
    state.rooms = rooms.rooms;
    state.coverage = { partial: rooms.partial || stats.partial, expected: stats.expectedNodes, answered: stats.answeredNodes, truncated: rooms.truncated };
    state.stats = stats;
    state.prevMetrics = state.metrics ? { at: state.updated, ms: state.metrics } : null;
    state.metrics = metricsText ? parseMetrics(metricsText) : null;
    state.error = '';
    state.updated = Date.now();
    state.polls++;
  } catch (err) {
    if (err instanceof Unauthorized) {
      signOut('That key was refused.');
      return;
    }
    state.error = String(err.message || err);
  }
  render();
}

function signOut(message) {
  state.key = '';
  sessionStorage.removeItem(KEY);
  state.rooms = [];
  state.stats = null;
  $('login-error').textContent = message || '';
  render();
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function ago(iso) {
  if (!iso) return '';
  return duration(Date.now() - Date.parse(iso));
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h ${String(m).padStart(2, '0')}m` : m ? `${m}m ${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

// A button that acts on the second click within CONFIRM_MS.
function confirmButton(label, confirmLabel, action) {
  const b = el('button', { class: 'danger', type: 'button', textContent: label });
  let armed = 0;
  b.addEventListener('click', async () => {
    if (Date.now() - armed > CONFIRM_MS) {
      armed = Date.now();
      b.textContent = confirmLabel;
      b.classList.add('armed');
      setTimeout(() => { if (b.isConnected && Date.now() - armed >= CONFIRM_MS) { b.textContent = label; b.classList.remove('armed'); } }, CONFIRM_MS);
      return;
    }
    armed = 0;
    b.disabled = true;
    try {
      await action();
    } catch (err) {
      if (err instanceof Unauthorized) return signOut('That key was refused.');
      state.notice = 'Failed: ' + (err.message || err);
    }
    poll();
  });
  return b;
}

function roomPath(r) {
  return `/v1/admin/apps/${encodeURIComponent(r.app)}/rooms/${encodeURIComponent(r.room)}`;
}

function figures() {
  const s = state.stats;
  const ms = state.metrics;
  const t = s ? s.totals : {};
  const relayed = metric(ms, 'duet_relayed_messages_total');
  let rate = null;
  if (state.prevMetrics && relayed != null) {
    const before = metric(state.prevMetrics.ms, 'duet_relayed_messages_total');
    const secs = (state.updated - state.prevMetrics.at) / 1000;
    if (before != null && secs > 0) rate = Math.max(0, (relayed - before) / secs);
  }
  const fmt = (v, digits = 0) => (v == null || Number.isNaN(v) ? '–' : Number(v).toFixed(digits));
  const cards = [
    ['nodes', 'Nodes', s ? `${t.nodes}${state.coverage && state.coverage.partial ? ' / ' + state.coverage.expected : ''}` : '–', 'cluster'],
    ['connections', 'Connections', fmt(t.connections), 'cluster'],
    ['rooms', 'Rooms', fmt(t.rooms), 'cluster'],
    ['calls', 'Calls', fmt(t.calls), 'cluster'],
    ['members', 'Members', fmt(t.members), 'cluster'],
    ['joins', 'Joins', fmt(metric(ms, 'duet_joins_total')), 'this node, since start'],
    ['relayed', 'Relayed/s', fmt(rate, 1), 'this node'],
    ['errors', 'Errors sent', fmt(metric(ms, 'duet_errors_total')), 'this node, since start'],
    ['ice_refused', 'ICE refused', fmt(metric(ms, 'duet_ice_answers_total', 'result="refused"')), 'no valid token'],
    ['turn', 'TURN allocations', fmt(metric(ms, 'duet_turn_allocations')), 'this node'],
    ['quality_reports', 'Quality reports', fmt(metric(ms, 'duet_quality_reports_total')), 'this node, since start'],
    ['turn_calls', 'Calls via TURN', fmt(metric(ms, 'duet_quality_calls_total', 'candidate="relay"')), 'ended on this node'],
    ['webhook_queue', 'Webhook queue', fmt(metric(ms, 'duet_webhook_queue')), 'this node'],
    ['webhook_failed', 'Webhooks failed', fmt(sumOf(metric(ms, 'duet_webhook_deliveries_total', 'result="failed"'), metric(ms, 'duet_webhook_deliveries_total', 'result="dropped"'))), 'given up or dropped'],
  ];
  return cards.map(([id, label, value, hint]) =>
    el('div', { class: 'figure', 'data-figure': id }, el('div', { class: 'value', textContent: value }), el('div', { class: 'label', textContent: label }), el('div', { class: 'hint', textContent: hint })));
}

function sumOf(a, b) {
  return a == null && b == null ? null : (a || 0) + (b || 0);
}

// A member's live call quality (duet's SDKs report it): its grade, its
// last measures, and one block per recent report, coloured by grade.
function qualityOf(room, m) {
  const q = room.quality && room.quality[m.id];
  if (!q) return null;
  const num = (s, unit, digits = 0) => (s ? `${Number(s.last).toFixed(digits)} ${unit}` : null);
  const text = [q.level || 'unknown', num(q.rttMs, 'ms'), q.lossPct ? `${Number(q.lossPct.last).toFixed(1)} % loss` : null,
    q.localCandidate ? q.localCandidate + (q.transport ? '/' + q.transport : '') : null].filter(Boolean).join(' · ');
  const hist = el('span', { class: 'hist' }, ...(q.history || []).map((p) =>
    el('i', { 'data-level': p.level || 'unknown', title: `${new Date(p.at).toLocaleTimeString()}: ${p.level || 'unknown'}, ${Math.round(p.rttMs)} ms, ${Number(p.lossPct).toFixed(1)} % loss` })));
  return el('span', { class: 'q', 'data-level': q.level || 'unknown', title: `${q.reports} reports; setup ${q.setupMs ?? '–'} ms; ICE restarts ${q.iceRestarts}; resumes ${q.resumes}` },
    el('span', { class: 'qtext', textContent: text }), hist);
}

function memberRow(room, m) {
  return el('li', { class: 'member', 'data-member': m.id },
    el('span', { class: 'mid', textContent: m.id }),
    el('span', { class: 'node', textContent: m.node || '' }),
    el('span', { class: 'remote', textContent: m.remote || '' }),
    el('span', { class: 'since', textContent: m.joinedAt ? 'joined ' + ago(m.joinedAt) + ' ago' : '' }),
    m.peer ? el('span', { class: 'badge', textContent: 'peer ' + m.peer }) : null,
    m.resumable ? el('span', { class: 'badge', textContent: 'resumable' }) : null,
    m.held ? el('span', { class: 'badge', textContent: 'reconnecting' }) : null,
    qualityOf(room, m),
    confirmButton('Kick', 'Confirm kick', async () => {
      await api('DELETE', roomPath(room) + '/members/' + encodeURIComponent(m.id));
      state.notice = `Removed ${m.id} from ${room.app}/${room.room}.`;
    }));
}

function roomRow(r) {
  const call = r.callStartedAt ? duration(Date.now() - Date.parse(r.callStartedAt)) : '';
  return el('tr', { 'data-room': r.app + '/' + r.room },
    el('td', { textContent: r.app }),
    el('td', { class: 'room-name', textContent: r.room }),
    el('td', {}, el('span', { class: 'state ' + r.state, textContent: r.state }),
      r.maxPeers ? el('span', { class: 'badge', textContent: `mesh ${r.members.length}/${r.maxPeers}` }) : null),
    el('td', {}, el('ul', { class: 'members' }, ...r.members.map((m) => memberRow(r, m)))),
    el('td', { class: 'call', textContent: call }),
    el('td', {}, confirmButton('End', 'Confirm end', async () => {
      const res = await api('DELETE', roomPath(r));
      state.notice = `Ended ${r.app}/${r.room} (${res.removed} removed).`;
    })));
}

function render() {
  const signedIn = !!state.key;
  $('login').hidden = signedIn;
  $('dash').hidden = !signedIn;
  $('signout').hidden = !signedIn;
  if (!signedIn) {
    $('status').textContent = '';
    return;
  }
  const cov = state.coverage;
  let status = state.updated ? 'updated ' + new Date(state.updated).toLocaleTimeString() : 'loading…';
  if (cov && cov.partial) status += ` · partial: ${cov.answered} of ${cov.expected} nodes answered`;
  if (cov && cov.truncated) status += ' · first rooms only';
  if (state.error) status += ' · ' + state.error;
  $('status').textContent = status;
  $('status').className = 'status' + (state.error || (cov && cov.partial) ? ' warn' : '');
  $('notice').textContent = state.notice;
  $('figures').replaceChildren(...figures());
  const q = $('filter').value.trim().toLowerCase();
  const rooms = state.rooms.filter((r) => !q || [r.app, r.room, ...r.members.flatMap((m) => [m.id, m.remote || ''])].some((s) => s.toLowerCase().includes(q)));
  // Keep a row whose button is armed for a confirmation.
  const armed = document.querySelector('#rooms button.armed');
  if (!armed) $('rooms').replaceChildren(...rooms.map(roomRow));
  $('empty').hidden = rooms.length > 0;
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('key').value.trim();
  if (!key) return;
  state.key = key;
  sessionStorage.setItem(KEY, key);
  $('key').value = '';
  $('login-error').textContent = '';
  render();
  poll();
});
$('signout').addEventListener('click', () => signOut(''));
$('filter').addEventListener('input', render);
render();
poll();
setInterval(poll, POLL_MS);
