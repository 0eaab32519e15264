// The demo call page: one room from ?room=, camera preview, remote video and
// a text chat over the data channel, all through the duet SDK.
import { DuetCall, playMedia } from '/sdk/duet.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// ?quality=ms reports the call's quality that often (tests use 1000).
const qualityInterval = Number(params.get('quality')) || undefined;
const app = params.get('app') || 'WebRTCAppEE';
const room = params.get('room');
// ?relay: every connection through TURN (iceTransportPolicy relay), to try
// the server's TURN as a caller behind a symmetric NAT would use it.
const relayOnly = params.has('relay');
const wsURL = params.get('ws') ||
  `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/${encodeURIComponent(app)}/websocket`;

const STATE_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  waiting: 'Waiting for peer',
  negotiating: 'Connecting to peer…',
  connected: 'In call',
  reconnecting: 'Reconnecting…',
  failed: 'Connection failed',
  closed: 'Disconnected',
};

// Test hook: tests and curious developers read state here instead of
// scraping the page.
const demo = {
  app, room, url: wsURL,
  state: 'idle',
  log: [],
  messages: [],
  notice: null,
  media: 'pending', // 'camera', 'none' (denied or absent)
  call: null,
  counts: { joined: 0, connected: 0, peerLeft: 0, reconnecting: 0, peerReconnecting: 0, mediaTrouble: 0, callRestart: 0 },
  hint: null, // signaling trouble shown over the video: {code, text}
  inCall: false, // connected to the current partner at least once
  remote: { camera: false, screen: false },
  local: { camera: false, screen: false },
  send: (text) => sendChat(text),
  autoplay: null, // how the remote video plays: 'playing', 'muted' (sound refused), 'blocked'
  quality: null, // the last quality event: {level, local, remote, stats, partner}
  qualityLog: [], // levels seen, in order: {t, level, local, remote}
};
window.duetDemo = demo;

function log(event, detail) {
  demo.log.push({ t: Date.now(), event, detail });
  if (demo.log.length > 500) demo.log.shift();
}

function setState(state) {
  demo.state = state;
  const pill = $('state');
  pill.dataset.state = state;
  pill.textContent = STATE_TEXT[state] || state;
}

function notice(kind, code, text) {
  demo.notice = kind ? { kind, code, text } : null;
  const el = $('notice');
  el.hidden = !kind;
  el.className = `notice ${kind || ''}`;
  el.dataset.code = code || '';
  el.textContent = text || '';
}

// Trouble that does not stop the call (the media keeps flowing): a small
// line over the video instead of the notice bar. The most important shown.
const hints = new Map();
const HINT_ORDER = ['media', 'server', 'peer'];
function hint(code, text) {
  if (text) hints.set(code, text);
  else hints.delete(code);
  const top = HINT_ORDER.find((c) => hints.has(c));
  demo.hint = top ? { code: top, text: hints.get(top) } : null;
  const el = $('hint');
  el.hidden = !top;
  el.dataset.code = top || '';
  el.textContent = top ? hints.get(top) : '';
}

function addMessage(who, text) {
  demo.messages.push({ who, text });
  const li = document.createElement('li');
  li.className = who;
  li.textContent = text;
  const list = $('messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function randomRoom() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => 'abcdefghjkmnpqrstuvwxyz23456789'[b % 31]).join('');
}

function roomLink(name) {
  const u = new URL(location.href);
  u.search = '';
  u.searchParams.set('room', name);
  if (app !== 'WebRTCAppEE') u.searchParams.set('app', app);
  if (params.get('ws')) u.searchParams.set('ws', params.get('ws'));
  return u.toString();
}

function showLobby() {
  $('lobby').hidden = false;
  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    location.href = roomLink($('room-input').value.trim());
  });
  $('create').addEventListener('click', () => { location.href = roomLink(randomRoom()); });
  $('room-input').focus();
}

async function getMedia() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: null, reason: 'This browser gives no camera access here (a secure https:// page is needed).' };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video: true, audio: true }) };
  } catch (err) {
    const why = err && err.name === 'NotAllowedError' ? 'Camera and microphone access was denied'
      : err && err.name === 'NotFoundError' ? 'No camera or microphone was found'
      : `Camera unavailable (${err && err.name})`;
    return { stream: null, reason: `${why}. You can still see and hear the other person and chat.` };
  }
}

let call = null;

function sendChat(text) {
  if (!call || !text) return false;
  try {
    call.send(text);
  } catch {
    return false;
  }
  addMessage('me', text);
  return true;
}

const QUALITY_TEXT = { good: 'good', fair: 'fair', poor: 'poor', unknown: 'not known yet' };

// The signal indicator: the worse of how we and the partner receive.
function showQuality(q) {
  demo.quality = q;
  const el = $('signal');
  el.hidden = !q;
  if (!q) return;
  demo.qualityLog.push({ t: Date.now(), level: q.level, local: q.local, remote: q.remote });
  if (demo.qualityLog.length > 200) demo.qualityLog.shift();
  el.dataset.level = q.level;
  const s = q.stats || {};
  const parts = [`Call quality ${QUALITY_TEXT[q.level]}`, `you receive: ${QUALITY_TEXT[q.local]}`, `they receive: ${QUALITY_TEXT[q.remote]}`];
  if (s.rtt !== undefined) parts.push(`round trip ${Math.round(s.rtt)} ms`);
  if (s.loss !== undefined) parts.push(`loss ${s.loss.toFixed(1)} %`);
  if (s.localCandidate === 'relay' || s.remoteCandidate === 'relay') parts.push('through a relay');
  el.title = parts.join(' · ');
  el.setAttribute('aria-label', parts[0]);
}

function setChatEnabled(on) {
  $('chat-input').disabled = !on;
  $('chat-send').disabled = !on;
  demo.chatOpen = on;
}

function showRemote(on) {
  $('remote-placeholder').hidden = on;
  $('remote-video').classList.toggle('live', on);
}

// What the remote tile shows: the partner's camera, or why not.
function placeholder(text, spinning) {
  showRemote(false);
  document.querySelector('.spinner').hidden = !spinning;
  $('placeholder-text').textContent = text;
}

function showRemoteCamera() {
  if (!call || call.state === 'closed') return;
  const stream = call.remoteStream;
  if (!demo.inCall) return; // the placeholder says why until the first connection
  if (stream && stream.getVideoTracks().length > 0) {
    showRemote(true);
  } else {
    placeholder(demo.remote.screen ? 'Camera off' : 'Connected. The other person has no camera on.', false);
  }
}

function showRemoteScreen(stream) {
  demo.remote.screen = !!stream;
  $('remote-screen').srcObject = stream || null;
  $('screen-wrap').hidden = !stream;
  document.querySelector('.videos').classList.toggle('sharing', !!stream);
  if (stream) $('remote-screen').play().catch(() => {});
}

async function copyLink(label) {
  const link = $('share-link').value;
  try {
    if (navigator.share && matchMedia('(pointer: coarse)').matches) {
      await navigator.share({ title: 'Join my duet call', url: link });
      return;
    }
    await navigator.clipboard.writeText(link);
    label.textContent = 'Copied';
  } catch {
    $('share-link').select();
  }
}

async function startCall() {
  $('call').hidden = false;
  document.title = `${room} — duet`;
  $('share-link').value = roomLink(room);
  $('room-name').textContent = room;
  $('room-name').hidden = false;
  $('copy').addEventListener('click', () => copyLink($('copy')));
  $('share').addEventListener('click', () => copyLink($('share').querySelector('span')));

  const { stream, reason } = await getMedia();
  demo.media = stream ? 'camera' : 'none';
  demo.local.camera = !!(stream && stream.getVideoTracks().length);
  if (stream) {
    $('local-video').srcObject = stream;
  } else {
    $('local-off').hidden = false;
    $('mic').disabled = true;
    notice('warn', 'noCamera', reason);
    log('media', reason);
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) $('screen').hidden = true;

  call = new DuetCall({
    url: wsURL, room, localStream: stream, dataChannel: true, qualityInterval,
    rtcConfig: relayOnly ? { iceTransportPolicy: 'relay' } : undefined,
  });
  demo.call = call;

  call.on('state', ({ state }) => {
    setState(state);
    log('state', state);
    if (state === 'reconnecting' && !call.pc) placeholder('Connection lost. Reconnecting…', true);
    if (state === 'waiting' && !(demo.notice && demo.notice.code === 'peerLeft')) placeholder('Waiting for someone to join…', true);
    if (state === 'connected') hint('media', null);
  });
  call.on('signaling', ({ state }) => {
    log('signaling', state);
    // The call goes on without the server; only a new negotiation needs it.
    hint('server', state === 'reconnecting' ? 'Reconnecting to the server… the call goes on.' : null);
  });
  call.on('joined', ({ reconnected, resumed }) => {
    demo.counts.joined++;
    log('joined', { reconnected, resumed });
    if (demo.notice && demo.notice.code === 'reconnecting') notice(null);
  });
  call.on('track', ({ track, stream: remote, main }) => {
    log('track', { kind: track.kind, main });
    if (main === false) {
      if (track.kind === 'video') showRemoteScreen(remote);
      return;
    }
    const v = $('remote-video');
    if (v.srcObject !== remote) v.srcObject = remote;
    playRemote();
    if (track.kind === 'video') {
      demo.remote.camera = true;
      showRemoteCamera();
    }
  });
  call.on('trackEnded', ({ track, main }) => {
    log('trackEnded', { kind: track.kind, main });
    if (track.kind !== 'video') return;
    if (main === false) {
      showRemoteScreen(null);
    } else {
      demo.remote.camera = false;
      showRemoteCamera();
    }
  });
  call.on('connected', () => {
    demo.counts.connected++;
    demo.inCall = true;
    showRemoteCamera();
    if (demo.notice && demo.notice.code === 'peerLeft') notice(null);
    log('connected', null);
  });
  call.on('quality', (q) => showQuality(q));
  call.on('peerLeft', ({ reason: why }) => {
    showQuality(null);
    demo.counts.peerLeft++;
    demo.inCall = false;
    demo.remote.camera = false;
    $('remote-video').srcObject = null;
    showRemoteScreen(null);
    hint('peer', null);
    hint('media', null);
    placeholder('The other person left. Waiting for someone to join…', true);
    notice('info', 'peerLeft', why === 'unreachable' ? 'The other person could not be reached any more.' : 'The other person left the call.');
    addMessage('system', 'The other person left.');
    log('peerLeft', why);
  });
  call.on('peerReconnecting', () => {
    demo.counts.peerReconnecting++;
    hint('peer', 'The other person is reconnecting…');
    log('peerReconnecting', null);
  });
  call.on('peerReconnected', () => { hint('peer', null); log('peerReconnected', null); });
  call.on('peerSignalingLost', ({ reason: why }) => {
    hint('peer', 'The other person lost the server; the call goes on.');
    log('peerSignalingLost', why);
  });
  call.on('mediaTrouble', ({ reason: why }) => {
    demo.counts.mediaTrouble++;
    hint('media', 'Connection unstable. Reconnecting…');
    log('mediaTrouble', why);
  });
  call.on('mediaRecovered', ({ after }) => { hint('media', null); log('mediaRecovered', after); });
  call.on('iceRestart', ({ reason: why }) => log('iceRestart', why));
  call.on('callRestart', ({ initiator, reason: why }) => {
    demo.counts.callRestart++;
    hint('media', 'Connection lost. Reconnecting…');
    log('callRestart', { initiator, reason: why });
  });
  call.on('channelOpen', () => { setChatEnabled(true); log('channelOpen', null); });
  call.on('channelClose', () => { setChatEnabled(false); log('channelClose', null); });
  call.on('message', ({ text }) => {
    if (text === null) return; // binary data is for apps, not the chat
    addMessage('peer', text);
    log('message', text);
  });
  call.on('reconnecting', ({ attempt, delay }) => {
    demo.counts.reconnecting++;
    log('reconnecting', { attempt, delay: Math.round(delay) });
  });
  call.on('serverWillStop', () => log('serverWillStop', null));
  call.on('error', ({ definition, retrying }) => {
    log('error', definition);
    if (retrying) return; // a token refused on a rejoin: the SDK asks for a fresh one
    if (definition === 'NoSpaceForNewPeer') {
      notice('error', definition, 'This room is full: two people are already in the call. Try again later or create a new room.');
      $('placeholder-text').textContent = 'This room is full.';
    } else if (definition === 'unauthorized_access' || definition === 'authenticationTokenNotValid') {
      notice('error', definition, 'You are not allowed to join this room.');
    } else if (definition === 'invalidStreamName') {
      notice('error', definition, 'That room name is not valid: use letters, digits, dot, dash and underscore.');
    } else if (definition === 'highResourceUsage') {
      notice('warn', definition, 'The server is busy. Retrying…');
    }
  });
  call.on('closed', ({ reason: why }) => {
    showQuality(null);
    log('closed', why);
    showRemote(false);
    showRemoteScreen(null);
    hints.clear();
    hint('server', null);
    document.querySelector('.spinner').hidden = true;
    if (why === 'left') {
      $('placeholder-text').textContent = 'You left the call.';
      notice('info', 'left', 'You left the call.');
    }
    // Release the camera and the screen: no capture may outlive the call.
    for (const s of [call.localStream, screen]) if (s) for (const t of s.getTracks()) t.stop();
    $('local-video').srcObject = null;
    $('local-off').textContent = 'Camera off';
    $('local-off').hidden = false;
    for (const id of ['mic', 'cam', 'screen']) $(id).disabled = true;
    $('leave').hidden = true;
    $('rejoin').hidden = false;
    setChatEnabled(false);
  });

  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('chat-input');
    if (sendChat(input.value.trim())) input.value = '';
  });
  $('leave').addEventListener('click', () => call.leave());
  $('rejoin').addEventListener('click', () => location.reload());
  $('mic').addEventListener('click', () => {
    // Muting keeps the track (silence is sent): no renegotiation.
    const b = $('mic');
    const off = b.getAttribute('aria-pressed') !== 'true';
    for (const t of (call.localStream ? call.localStream.getAudioTracks() : [])) t.enabled = !off;
    b.setAttribute('aria-pressed', String(off));
    b.title = off ? 'Unmute microphone' : 'Mute microphone';
  });
  $('cam').addEventListener('click', () => toggleCamera());
  $('unmute').addEventListener('click', unmuteRemote);
  $('screen').addEventListener('click', () => toggleScreen());
  setPressed('cam', !demo.local.camera, 'Turn camera on', 'Turn camera off');

  call.connect().catch(() => {}); // failures arrive as events
}

// The browser may refuse to play the partner's sound before the person
// has touched the page (Firefox's and Safari's autoplay policies): then
// the video plays muted with a button that turns the sound on, or, if
// even that is refused, the button starts it.
function playRemote() {
  // One attempt at a time, and only the newest one's outcome shows: the
  // audio and the video track each start one, and a muted attempt still
  // under way when the person taps "sound on" must not mute it again.
  const gen = ++playGen;
  playQueue = playQueue.then(async () => {
    if (gen !== playGen) return;
    const how = await playMedia($('remote-video'));
    if (how === 'aborted' || gen !== playGen) return;
    demo.autoplay = how;
    log('autoplay', how);
    const b = $('unmute');
    b.hidden = how === 'playing';
    b.classList.toggle('blocked', how === 'blocked');
    b.textContent = how === 'blocked' ? 'Tap to start the video' : 'Tap to turn the sound on';
  });
}
let playQueue = Promise.resolve();
let playGen = 0;

function unmuteRemote() {
  playGen++; // the tap decides: no earlier attempt's outcome applies
  const v = $('remote-video');
  v.muted = false;
  v.play().then(() => {
    demo.autoplay = 'playing';
    $('unmute').hidden = true;
    log('autoplay', 'playing');
  }, (err) => log('autoplay', `refused: ${err && err.name}`));
}

let screen = null; // the shared screen's stream while sharing

function setPressed(id, pressed, onTitle, offTitle) {
  const b = $(id);
  b.setAttribute('aria-pressed', String(pressed));
  b.title = pressed ? onTitle : offTitle;
}

// Camera off stops the camera (its light goes out) and removes the track:
// the partner's side is renegotiated and shows "camera off". On again
// takes a new camera track onto the same connection.
async function toggleCamera() {
  const b = $('cam');
  b.disabled = true;
  try {
    if (demo.local.camera) {
      for (const t of call.localStream.getVideoTracks()) {
        call.removeTrack(t);
        t.stop();
      }
      demo.local.camera = false;
      $('local-video').srcObject = null;
      $('local-off').textContent = 'Camera off';
      $('local-off').hidden = false;
    } else {
      const cam = await navigator.mediaDevices.getUserMedia({ video: true });
      const track = cam.getVideoTracks()[0];
      call.addTrack(track, call.localStream || undefined);
      demo.local.camera = true;
      $('local-video').srcObject = call.localStream;
      $('local-off').hidden = true;
    }
    log('camera', demo.local.camera);
  } catch (err) {
    notice('warn', 'noCamera', `Camera unavailable (${err && err.name}).`);
  } finally {
    b.disabled = false;
    setPressed('cam', !demo.local.camera, 'Turn camera on', 'Turn camera off');
  }
}

async function toggleScreen() {
  if (screen) {
    stopScreen();
    return;
  }
  try {
    screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (err) {
    log('screen', err && err.name); // the person cancelled the picker
    return;
  }
  const track = screen.getVideoTracks()[0];
  track.addEventListener('ended', stopScreen); // "Stop sharing" in the browser's own bar
  call.addTrack(track, screen);
  demo.local.screen = true;
  setPressed('screen', true, 'Stop sharing your screen', 'Share your screen');
  log('screen', true);
}

function stopScreen() {
  if (!screen) return;
  for (const t of screen.getTracks()) {
    call.removeTrack(t);
    t.stop();
  }
  screen = null;
  demo.local.screen = false;
  setPressed('screen', false, 'Stop sharing your screen', 'Share your screen');
  log('screen', false);
}

if (room) {
  startCall();
} else {
  showLobby();
}
