// duet's group call page: a mesh room (DuetMesh) shown as a grid of tiles
// with names, who is speaking (audio level) and a chat to everyone.
// ?room=NAME&name=ME&max=N&app=APP&ws=URL&uplink=BPS. The server must allow
// mesh rooms for the app (max_peers). State for tests: window.duetGroup.

import { DuetMesh, playMedia } from '/sdk/duet.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const app = params.get('app') || 'WebRTCAppEE';
const room = params.get('room') || Math.random().toString(36).slice(2, 8);
const name = (params.get('name') || 'Guest ' + Math.floor(100 + Math.random() * 900)).slice(0, 40);
const wsURL = params.get('ws') || (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/' + app + '/websocket';

const g = window.duetGroup = { state: 'idle', id: null, tiles: {}, names: {}, speaking: {}, messages: [], counts: { joined: 0, peerGone: 0 }, mesh: null };

function setState(state, text) {
  g.state = state;
  $('state').dataset.state = state;
  $('state').textContent = text || state;
}

/** The tile of member key ('me' for us), made on first use. */
function tile(key) {
  let t = g.tiles[key];
  if (t) return t;
  const el = document.createElement('div');
  el.className = 'tile' + (key === 'me' ? ' me' : '');
  el.dataset.peer = key;
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = key === 'me';
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = key === 'me' ? name + ' (you)' : g.names[key] || 'Member ' + key;
  el.append(video, label);
  $('grid').append(el);
  t = g.tiles[key] = { el, video, label, level: null };
  return t;
}

function dropTile(key) {
  const t = g.tiles[key];
  if (!t) return;
  t.el.remove();
  delete g.tiles[key];
  delete g.speaking[key];
}

// Who is speaking: the RMS level of each tile's audio, every 100 ms.
let audio = null;
function listen(key, stream) {
  const track = stream.getAudioTracks()[0];
  if (!track) return;
  try {
    audio = audio || new AudioContext();
    const analyser = audio.createAnalyser();
    analyser.fftSize = 512;
    audio.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    tile(key).level = analyser;
  } catch { /* no Web Audio: no indicator */ }
}
const samples = new Float32Array(512);
setInterval(() => {
  for (const [key, t] of Object.entries(g.tiles)) {
    if (!t.level) continue;
    t.level.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const on = Math.sqrt(sum / samples.length) > 0.02;
    g.speaking[key] = on;
    t.el.classList.toggle('speaking', on);
  }
}, 100);

function addMessage(who, text) {
  g.messages.push({ who, text });
  const li = document.createElement('li');
  const b = document.createElement('b');
  b.textContent = who + ': ';
  li.append(b, document.createTextNode(text));
  $('messages').append(li);
  li.scrollIntoView({ block: 'end' });
}

function say(peer, msg) {
  const call = g.mesh && g.mesh.peers.get(peer);
  if (call && call.channel && call.channel.readyState === 'open') call.send(JSON.stringify(msg));
}

async function start() {
  $('room-name').textContent = room;
  const link = new URL(location.href);
  link.searchParams.delete('name');
  link.searchParams.set('room', room);
  $('share-link').value = link.toString();
  let localStream = null;
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch { /* no camera: we still see and hear the others */ }
  if (localStream) {
    tile('me').video.srcObject = localStream;
    listen('me', localStream);
  }
  const mesh = g.mesh = new DuetMesh({ url: wsURL, room, localStream, maxPeers: Number(params.get('max')) || 6,
    uplinkBitrate: Number(params.get('uplink')) || 2500000 });
  mesh.on('state', ({ state }) => setState(state === 'joined' ? 'connected' : state));
  mesh.on('joined', ({ id, maxPeers, peers }) => {
    g.counts.joined++;
    g.id = id;
    setState('connected', `In the room (${peers.length + 1}/${maxPeers})`);
  });
  mesh.on('track', ({ peer, stream, main, track }) => {
    if (!main) return;
    const t = tile(peer);
    if (t.video.srcObject !== stream) {
      t.video.srcObject = stream;
      playMedia(t.video);
    }
    if (track.kind === 'audio') listen(peer, stream);
  });
  mesh.on('channelOpen', ({ peer }) => say(peer, { type: 'hello', name }));
  mesh.on('message', ({ peer, text }) => {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    if (m.type === 'hello' && typeof m.name === 'string') {
      g.names[peer] = m.name.slice(0, 40);
      tile(peer).label.textContent = g.names[peer];
    } else if (m.type === 'chat' && typeof m.text === 'string') {
      addMessage(g.names[peer] || 'Member ' + peer, m.text.slice(0, 2000));
    }
  });
  mesh.on('peerRenamed', ({ from, to }) => {
    for (const table of [g.tiles, g.names]) {
      if (from in table) { table[to] = table[from]; delete table[from]; }
    }
    if (g.tiles[to]) g.tiles[to].el.dataset.peer = to;
  });
  mesh.on('peerGone', ({ peer }) => { g.counts.peerGone++; dropTile(peer); });
  mesh.on('error', ({ definition }) => {
    if (definition === 'NoSpaceForNewPeer') setState('closed', 'The room is full');
    else if (definition === 'meshClientRequired') setState('closed', 'This room is a group call');
  });
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('chat-input').value.trim();
    if (!text) return;
    $('chat-input').value = '';
    mesh.send(JSON.stringify({ type: 'chat', text }));
    addMessage(name + ' (you)', text);
  });
  $('leave').addEventListener('click', () => { mesh.leave(); setState('closed', 'Left'); });
  setState('connecting', 'Connecting…');
  await mesh.connect();
}

start();
