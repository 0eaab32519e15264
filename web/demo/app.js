// The demo call page: one room from ?room=, camera preview, remote video and
// a text chat over the data channel, all through the duet SDK.
import { DuetCall } from '/sdk/duet.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const app = params.get('app') || 'WebRTCAppEE';
const room = params.get('room');
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
  counts: { joined: 0, connected: 0, peerLeft: 0, reconnecting: 0 },
  send: (text) => sendChat(text),
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

function setChatEnabled(on) {
  $('chat-input').disabled = !on;
  $('chat-send').disabled = !on;
  demo.chatOpen = on;
}

function showRemote(on) {
  $('remote-placeholder').hidden = on;
  $('remote-video').classList.toggle('live', on);
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
  if (stream) {
    $('local-video').srcObject = stream;
  } else {
    $('local-off').hidden = false;
    $('mic').disabled = true;
    $('cam').disabled = true;
    notice('warn', 'noCamera', reason);
    log('media', reason);
  }

  call = new DuetCall({ url: wsURL, room, localStream: stream, dataChannel: true });
  demo.call = call;

  call.on('state', ({ state }) => { setState(state); log('state', state); });
  call.on('joined', ({ reconnected }) => {
    demo.counts.joined++;
    log('joined', { reconnected });
    if (demo.notice && demo.notice.code === 'reconnecting') notice(null);
  });
  call.on('track', ({ stream: remote }) => {
    const v = $('remote-video');
    if (v.srcObject !== remote) v.srcObject = remote;
    v.play().catch(() => {}); // autoplay may need a gesture; the video shows once allowed
    log('track', null);
  });
  call.on('connected', () => {
    demo.counts.connected++;
    const video = call.remoteStream && call.remoteStream.getVideoTracks().length > 0;
    showRemote(video);
    if (!video) {
      document.querySelector('.spinner').hidden = true;
      $('placeholder-text').textContent = 'Connected. The other person has no camera.';
    }
    if (demo.notice && demo.notice.code === 'peerLeft') notice(null);
    log('connected', null);
  });
  call.on('peerLeft', () => {
    demo.counts.peerLeft++;
    showRemote(false);
    $('remote-video').srcObject = null;
    document.querySelector('.spinner').hidden = false;
    $('placeholder-text').textContent = 'The other person left. Waiting for someone to join…';
    notice('info', 'peerLeft', 'The other person left the call.');
    addMessage('system', 'The other person left.');
    log('peerLeft', null);
  });
  call.on('channelOpen', () => { setChatEnabled(true); log('channelOpen', null); });
  call.on('channelClose', () => { setChatEnabled(false); log('channelClose', null); });
  call.on('message', ({ text }) => {
    if (text !== null) addMessage('peer', text);
    log('message', text);
  });
  call.on('reconnecting', ({ attempt, delay }) => {
    demo.counts.reconnecting++;
    showRemote(false);
    document.querySelector('.spinner').hidden = false;
    $('placeholder-text').textContent = 'Connection lost. Reconnecting…';
    notice('warn', 'reconnecting', `Connection to the server lost. Reconnecting (attempt ${attempt})…`);
    log('reconnecting', { attempt, delay: Math.round(delay) });
  });
  call.on('serverWillStop', () => log('serverWillStop', null));
  call.on('error', ({ definition }) => {
    log('error', definition);
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
  call.on('closed', ({ reason }) => {
    log('closed', reason);
    showRemote(false);
    document.querySelector('.spinner').hidden = true;
    if (reason === 'left') {
      $('placeholder-text').textContent = 'You left the call.';
      notice('info', 'left', 'You left the call.');
    }
    // Release the camera: its light should not stay on after the call.
    if (stream) for (const t of stream.getTracks()) t.stop();
    $('local-video').srcObject = null;
    $('local-off').textContent = 'Camera off';
    $('local-off').hidden = false;
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
  toggle('mic', () => stream && stream.getAudioTracks(), 'Unmute microphone', 'Mute microphone');
  toggle('cam', () => stream && stream.getVideoTracks(), 'Turn camera on', 'Turn camera off');

  call.connect().catch(() => {}); // failures arrive as events
}

function toggle(id, tracks, offTitle, onTitle) {
  const b = $(id);
  b.addEventListener('click', () => {
    const ts = tracks() || [];
    const off = b.getAttribute('aria-pressed') !== 'true';
    for (const t of ts) t.enabled = !off;
    b.setAttribute('aria-pressed', String(off));
    b.title = off ? offTitle : onTitle;
  });
}

if (room) {
  startCall();
} else {
  showLobby();
}
