// Call quality: while a call is up, duet's SDK measures it (getStats every
// `qualityInterval` ms) and sends the server a qualityReport; the server
// grades it, keeps it for operators and relays it to the partner, whose
// SDK emits a `quality` event. See ../../docs/protocol.md ("Call quality").
//
// Grades: poor when loss ≥ 5 %, RTT ≥ 400 ms or jitter ≥ 50 ms; else fair
// when loss ≥ 1 %, RTT ≥ 200 ms or jitter ≥ 30 ms; else good. The server
// (quality/grade.go) and the Go SDK (client/quality.go) use the same lines.

export const QUALITY_DEFAULTS = {
  qualityInterval: 5000, // ms between reports (1000 at least); 0: no reports and no local grading
};

const LEVELS = ['unknown', 'good', 'fair', 'poor'];

/** Grades measures (ms, ms, percent; undefined: not measured). */
export function grade({ rtt, jitter, loss }) {
  if (rtt === undefined && jitter === undefined && loss === undefined) return 'unknown';
  const at = (v, line) => v !== undefined && v >= line;
  if (at(loss, 5) || at(rtt, 400) || at(jitter, 50)) return 'poor';
  if (at(loss, 1) || at(rtt, 200) || at(jitter, 30)) return 'fair';
  return 'good';
}

/** The worse of two levels (unknown counts as nothing). */
export function worse(a, b) {
  return LEVELS.indexOf(a) >= LEVELS.indexOf(b) ? a : b;
}

/**
 * QualityReporter follows one DuetCall through its events: it samples the
 * current peer connection, sends reports while the call is up, and turns
 * its own samples and the partner's quality frames into `quality` events.
 */
export class QualityReporter {
  /** @param {import('./duet.js').DuetCall} call */
  constructor(call) {
    this.call = call;
    // The server takes one report a second at most.
    const iv = call.options.qualityInterval;
    this.interval = iv > 0 ? Math.max(iv, 1000) : 0;
    this.link = null;
    this.seq = 0;
    this.prev = null; // counters of the previous sample
    this.base = null; // when this end joined the current call
    this.pendingBase = null;
    this.setupMs = undefined;
    this.resumes = 0;
    this.local = null; // the last own sample
    this.remote = null; // the partner's last quality frame, and when it came
    this.timer = null;
    if (!(this.interval > 0)) return;
    call.on('signal', ({ dir, msg }) => this._signal(dir, msg));
    call.on('connected', () => this._connected());
    call.on('joined', ({ reconnected }) => { if (reconnected && call.link) this.resumes++; });
    call.on('closed', () => this.stop());
    this.timer = setInterval(() => this._tick(), this.interval);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  _signal(dir, msg) {
    if (dir === 'out' && msg.command === 'join' && !this.call.link) {
      this.pendingBase = performance.now(); // a call, if one comes, starts from here
    } else if (dir === 'in' && msg.command === 'start') {
      this.pendingBase = performance.now(); // the partner arrived: we offer
    } else if (dir === 'in' && msg.command === 'quality') {
      this.remote = { msg, at: performance.now() };
      this._emit();
    }
  }

  _connected() {
    this._follow();
    if (this.setupMs === undefined && this.base !== null) {
      this.setupMs = Math.round(performance.now() - this.base);
    }
  }

  /** Notices a new peer connection: a new call, numbered from 1. */
  _follow() {
    const link = this.call.link;
    if (link === this.link) return link;
    this.link = link;
    this.seq = 0;
    this.prev = null;
    this.setupMs = undefined;
    this.resumes = 0;
    this.local = null;
    this.remote = null;
    this.base = this.pendingBase;
    return link;
  }

  async _tick() {
    const link = this._follow();
    if (!link || !link.connectedOnce || this.call.state === 'closed') return;
    let stats;
    try {
      stats = await link.pc.getStats();
    } catch {
      return; // the connection closed meanwhile
    }
    if (link !== this.call.link) return;
    const s = sample(stats, this.prev, performance.now());
    this.prev = s.counters;
    if (!s.report) return; // the first sample only sets the counters
    const r = s.report;
    r.iceRestarts = link.counters.iceRestarts;
    r.resumes = this.resumes;
    if (this.setupMs !== undefined) r.setupMs = this.setupMs;
    this.local = r;
    this._emit();
    if (this.call.signaling !== 'open') return;
    this.seq++;
    this.call._socket.send({ command: 'qualityReport', streamId: this.call.room, seq: this.seq, ...r });
  }

  _emit() {
    const local = this.local ? grade(this.local) : 'unknown';
    let remote = 'unknown';
    const rm = this.remote;
    // A partner silent for three intervals says nothing of now.
    if (rm && performance.now() - rm.at < 3 * this.interval) remote = rm.msg.level || 'unknown';
    this.call._emit('quality', {
      level: worse(local, remote), local, remote,
      stats: this.local ? { ...this.local } : null,
      partner: rm ? { ...rm.msg } : null,
    });
  }
}

/**
 * Reads a getStats report: the selected candidate pair's RTT, types and
 * transport, and, against the previous sample's counters, loss, jitter and
 * bitrates over the interval.
 */
export function sample(stats, prev, now) {
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId) || pair;
  });
  if (!pair) {
    stats.forEach((s) => {
      if (s.type === 'candidate-pair' && s.state === 'succeeded' && (s.selected || s.nominated) && !pair) pair = s;
    });
  }
  const c = { at: now, received: 0, lost: 0, bytesIn: 0, bytesOut: 0 };
  let jitter, decoded, dropped, freezes;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp') {
      c.received += s.packetsReceived || 0;
      c.lost += Math.max(0, s.packetsLost || 0);
      if (s.jitter !== undefined) jitter = Math.max(jitter || 0, s.jitter * 1000);
      if (s.kind === 'video') {
        decoded = (decoded || 0) + (s.framesDecoded || 0);
        dropped = (dropped || 0) + (s.framesDropped || 0);
        freezes = (freezes || 0) + (s.freezeCount || 0);
      }
    }
  });
  if (pair) {
    c.bytesIn = pair.bytesReceived || 0;
    c.bytesOut = pair.bytesSent || 0;
  }
  if (!prev) return { counters: c, report: null };
  const r = {};
  if (pair && pair.currentRoundTripTime !== undefined) r.rtt = round(pair.currentRoundTripTime * 1000);
  if (jitter !== undefined) r.jitter = round(jitter);
  const dRecv = c.received - prev.received, dLost = c.lost - prev.lost;
  if (dRecv + dLost > 0) r.loss = round(Math.min(100, Math.max(0, (100 * dLost) / (dRecv + dLost))));
  const secs = (now - prev.at) / 1000;
  if (pair && secs > 0) {
    r.bitrateIn = round(Math.max(0, (8 * (c.bytesIn - prev.bytesIn)) / 1000 / secs));
    r.bitrateOut = round(Math.max(0, (8 * (c.bytesOut - prev.bytesOut)) / 1000 / secs));
  }
  if (decoded !== undefined) {
    r.framesDecoded = decoded;
    r.framesDropped = dropped;
    r.freezes = freezes;
  }
  if (pair) {
    const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
    if (local && local.candidateType) r.localCandidate = local.candidateType;
    if (remote && remote.candidateType) r.remoteCandidate = remote.candidateType;
    const t = local && (local.candidateType === 'relay' && local.relayProtocol ? local.relayProtocol : local.protocol);
    if (t === 'udp' || t === 'tcp' || t === 'tls') r.transport = t;
  }
  return { counters: c, report: r };
}

function round(v) {
  return Math.round(v * 1000) / 1000;
}
