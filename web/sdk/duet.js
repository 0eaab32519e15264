// duet browser SDK: a one-to-one WebRTC call through a duet (or Ant Media
// peer-to-peer) signaling server. No dependencies; see duet.d.ts for the API
// and ../../docs/protocol.md for the wire contract it follows.

/** Join errors that retrying cannot fix: the call stops instead of reconnecting. */
const FATAL = new Set([
  'NoSpaceForNewPeer',
  'noStreamNameSpecified',
  'invalidStreamName',
  'unauthorized_access',
  'authenticationTokenNotValid',
  'tooManyRooms',
]);

const DEFAULTS = {
  dataChannel: true,
  pingInterval: 3000, // the Ant Media JS SDK's interval
  pongTimeout: 10000, // no frame at all for this long: the socket is dead
  minReconnectDelay: 500,
  maxReconnectDelay: 15000,
};

export class DuetCall extends EventTarget {
  /** @param {import('./duet').DuetCallOptions} options */
  constructor(options) {
    super();
    if (!options || !options.url || !options.room) {
      throw new TypeError('DuetCall: url and room are required');
    }
    this.options = { ...DEFAULTS, ...options };
    this.url = this.options.url;
    this.room = this.options.room;
    this.localStream = this.options.localStream || null;
    this.remoteStream = null;
    this.pc = null;
    this.channel = null;
    this.state = 'idle';
    this.reconnects = 0;
    this._ws = null;
    this._attempt = 0;
    this._timers = new Set();
    this._pendingCandidates = [];
    this._lastFrame = 0;
    // Caller-supplied ICE servers win; otherwise the server's answer to
    // getIceServerConfig decides (none configured: host candidates only).
    this._iceServers = this.options.iceServers || [];
    this._joined = null;
  }

  /** Subscribes fn to an event; fn gets the event's detail. Returns an unsubscribe function. */
  on(name, fn) {
    const h = (e) => fn(e.detail, e);
    this.addEventListener(name, h);
    return () => this.removeEventListener(name, h);
  }

  /** Opens the socket and joins the room; resolves on the first `joined`. */
  connect() {
    if (this._joined) return this._joined.promise;
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    promise.catch(() => {}); // callers that only listen to events must not see unhandled rejections
    this._joined = { promise, resolve, reject, done: false };
    this._open();
    return promise;
  }

  /** Leaves the room for good: sends `leave`, closes the call and the socket. */
  leave() {
    if (this.state === 'closed') return;
    this._send({ command: 'leave', streamId: this.room });
    this._shutdown('left');
  }

  /** Sends text (or binary) to the peer over the data channel. Throws when it is not open. */
  send(data) {
    if (!this.channel || this.channel.readyState !== 'open') {
      throw new Error('duet: data channel is not open');
    }
    this.channel.send(data);
  }

  /** Sends an opaque peerMessageCommand through the server to the peer. */
  sendPeerMessage(definition, data) {
    this._send({ command: 'peerMessageCommand', streamId: this.room, definition, data });
  }

  // --- socket -------------------------------------------------------------

  _open() {
    this._setState(this.reconnects > 0 || this._attempt > 0 ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._emit('error', { definition: 'invalidUrl', message: String(err) });
      this._shutdown('error');
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      this._lastFrame = Date.now();
      if (!this.options.iceServers) this._send({ command: 'getIceServerConfig' });
      const join = { command: 'join', streamId: this.room, multiPeer: false, mode: 'both' };
      if (this.options.token) join.token = this.options.token;
      this._send(join);
      this._startPing(ws);
    };
    ws.onmessage = (ev) => {
      this._lastFrame = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this._handle(msg).catch((err) => this._emit('error', { definition: 'internal', message: String(err) }));
    };
    ws.onclose = () => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._socketLost();
    };
  }

  _send(msg) {
    const ws = this._ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  _startPing(ws) {
    const tick = () => {
      if (this._ws !== ws) return;
      if (Date.now() - this._lastFrame > this.options.pongTimeout) {
        // Half-open TCP: the browser would wait minutes to notice.
        this._dropSocket();
        return;
      }
      this._send({ command: 'ping' });
      this._later(tick, this.options.pingInterval);
    };
    this._later(tick, this.options.pingInterval);
  }

  /** Closes the current socket and reconnects, as if the network had dropped it. */
  _dropSocket() {
    const ws = this._ws;
    if (!ws) return;
    this._ws = null;
    ws.onclose = null;
    try { ws.close(); } catch { /* already closing */ }
    this._socketLost();
  }

  _socketLost() {
    if (this.state === 'closed') return;
    // The server tells the partner `stop` when our socket goes; a new
    // partner (or the same one) will offer again after we rejoin.
    this._closePeer();
    const n = this._attempt++;
    const cap = Math.min(this.options.maxReconnectDelay, this.options.minReconnectDelay * 2 ** n);
    const delay = cap / 2 + Math.random() * (cap / 2); // jitter spreads a drained server's clients
    this._setState('reconnecting');
    this._emit('reconnecting', { attempt: n + 1, delay });
    this._later(() => {
      if (this.state !== 'closed') {
        this.reconnects++;
        this._open();
      }
    }, delay);
  }

  _later(fn, ms) {
    const id = setTimeout(() => { this._timers.delete(id); fn(); }, ms);
    this._timers.add(id);
  }

  _shutdown(reason, error) {
    for (const id of this._timers) clearTimeout(id);
    this._timers.clear();
    this._closePeer();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close(1000);
    }
    this._setState('closed');
    if (this._joined && !this._joined.done) {
      this._joined.done = true;
      this._joined.reject(error || new Error('duet: ' + reason));
    }
    this._emit('closed', { reason, error });
  }

  // --- signaling ----------------------------------------------------------

  async _handle(msg) {
    switch (msg.command) {
      case 'pong':
        return;
      case 'iceServerConfig':
        this._iceServers = iceServersFrom(msg);
        return;
      case 'notification':
        return this._notification(msg);
      case 'start':
        // We were waiting and a partner joined: we make the offer.
        this._closePeer();
        return this._offer();
      case 'takeConfiguration':
        return msg.type === 'offer' ? this._answer(msg.sdp) : this._setAnswer(msg.sdp);
      case 'takeCandidate':
        return this._remoteCandidate(msg);
      case 'stop':
        if (this.pc || this.state === 'connected' || this.state === 'negotiating') {
          this._closePeer();
          this._emit('peerLeft', { room: this.room });
        }
        this._setState('waiting');
        return;
      case 'peerMessageCommand':
        this._emit('peerMessage', { definition: msg.definition, data: msg.data });
        return;
      case 'error':
        return this._error(msg);
    }
  }

  _notification(msg) {
    switch (msg.definition) {
      case 'joined':
        this._attempt = 0;
        if (!this.pc) this._setState('waiting');
        this._emit('joined', { room: this.room, reconnected: this.reconnects > 0 });
        if (this._joined && !this._joined.done) {
          this._joined.done = true;
          this._joined.resolve();
        }
        return;
      case 'server_will_stop':
        // The server is draining: move now, with jitter, rather than be cut off.
        this._emit('serverWillStop', {});
        this._dropSocket();
        return;
    }
  }

  _error(msg) {
    const err = new DuetError(msg.definition, msg.streamId);
    this._emit('error', { definition: msg.definition, room: msg.streamId, error: err });
    if (FATAL.has(msg.definition)) this._shutdown(msg.definition, err);
  }

  _newPeer() {
    const pc = new RTCPeerConnection({ ...(this.options.rtcConfig || {}), iceServers: this._iceServers });
    this.pc = pc;
    this.remoteStream = new MediaStream();
    pc.onicecandidate = (e) => {
      if (this.pc !== pc || !e.candidate || !e.candidate.candidate) return;
      this._send({
        command: 'takeCandidate',
        streamId: this.room,
        label: e.candidate.sdpMLineIndex ?? 0,
        id: e.candidate.sdpMid ?? '0',
        candidate: e.candidate.candidate,
      });
    };
    pc.ontrack = (e) => {
      if (this.pc !== pc) return;
      this.remoteStream.addTrack(e.track);
      this._emit('track', { track: e.track, streams: e.streams, stream: this.remoteStream });
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      this._emit('connectionState', { state: pc.connectionState });
      if (pc.connectionState === 'connected') {
        this._setState('connected');
        this._emit('connected', { room: this.room });
      } else if (pc.connectionState === 'failed') {
        this._setState('failed');
      }
    };
    pc.ondatachannel = (e) => this._useChannel(e.channel);
    this._setState('negotiating');
    return pc;
  }

  _addLocalTracks(pc, offerer) {
    const kinds = new Set();
    if (this.localStream) {
      for (const track of this.localStream.getTracks()) {
        pc.addTrack(track, this.localStream);
        kinds.add(track.kind);
      }
    }
    if (offerer) {
      // Without a camera or microphone we still want the peer's media.
      for (const kind of ['audio', 'video']) {
        if (!kinds.has(kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }
  }

  async _offer() {
    const pc = this._newPeer();
    this._addLocalTracks(pc, true);
    if (this.options.dataChannel) this._useChannel(pc.createDataChannel(this.room));
    const offer = await pc.createOffer();
    if (this.pc !== pc) return;
    await pc.setLocalDescription(offer);
    if (this.pc !== pc) return;
    this._send({ command: 'takeConfiguration', streamId: this.room, type: 'offer', sdp: pc.localDescription.sdp });
  }

  async _answer(sdp) {
    // An offer on a negotiated connection is a renegotiation; otherwise a new call.
    let pc = this.pc;
    const fresh = !pc || !pc.remoteDescription;
    if (fresh) {
      if (!pc) pc = this._newPeer();
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    if (this.pc !== pc) return;
    if (fresh) this._addLocalTracks(pc, false);
    await this._flushCandidates(pc);
    const answer = await pc.createAnswer();
    if (this.pc !== pc) return;
    await pc.setLocalDescription(answer);
    if (this.pc !== pc) return;
    this._send({ command: 'takeConfiguration', streamId: this.room, type: 'answer', sdp: pc.localDescription.sdp });
  }

  async _setAnswer(sdp) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== 'have-local-offer') return;
    await pc.setRemoteDescription({ type: 'answer', sdp });
    await this._flushCandidates(pc);
  }

  async _remoteCandidate(msg) {
    const c = { candidate: msg.candidate, sdpMLineIndex: Number(msg.label), sdpMid: msg.id };
    const pc = this.pc;
    if (!pc || !pc.remoteDescription) {
      // Candidates can overtake the offer's processing: keep them for later.
      this._pendingCandidates.push(c);
      return;
    }
    await addCandidate(pc, c);
  }

  async _flushCandidates(pc) {
    const queued = this._pendingCandidates;
    this._pendingCandidates = [];
    for (const c of queued) {
      if (this.pc !== pc) return;
      await addCandidate(pc, c);
    }
  }

  _useChannel(ch) {
    this.channel = ch;
    ch.onopen = () => { if (this.channel === ch) this._emit('channelOpen', {}); };
    ch.onclose = () => { if (this.channel === ch) this._emit('channelClose', {}); };
    ch.onmessage = (e) => {
      if (this.channel === ch) this._emit('message', { data: e.data, text: typeof e.data === 'string' ? e.data : null });
    };
  }

  _closePeer() {
    const pc = this.pc;
    const ch = this.channel;
    this.pc = null;
    this.channel = null;
    this._pendingCandidates = [];
    if (ch) {
      ch.close();
      this._emit('channelClose', {});
    }
    if (pc) pc.close();
    if (this.remoteStream) {
      for (const t of this.remoteStream.getTracks()) this.remoteStream.removeTrack(t);
    }
  }

  _setState(state) {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this._emit('state', { state, previous });
  }

  _emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

/** An error definition sent by the server, e.g. `NoSpaceForNewPeer`. */
export class DuetError extends Error {
  constructor(definition, room) {
    super(`duet: server error ${definition}${room ? ` (room ${room})` : ''}`);
    this.name = 'DuetError';
    this.definition = definition;
    this.room = room;
  }
}

/** Turns an iceServerConfig answer into RTCIceServer entries. */
export function iceServersFrom(msg) {
  if (Array.isArray(msg.iceServers) && msg.iceServers.length > 0) return msg.iceServers;
  const uri = msg.stunServerUri || '';
  if (uri.startsWith('stun:')) return [{ urls: uri }];
  if (uri.startsWith('turn:') || uri.startsWith('turns:')) {
    return [{ urls: uri, username: msg.turnServerUsername || '', credential: msg.turnServerCredential || '' }];
  }
  return [];
}

async function addCandidate(pc, c) {
  try {
    await pc.addIceCandidate(c);
  } catch {
    // A candidate for an m-line we rejected, or after close: harmless.
  }
}
