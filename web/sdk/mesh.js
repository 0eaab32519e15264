// duet.js's group call: a mesh room (docs/protocol.md, "Mesh rooms"), where
// every member connects to every other one. DuetMesh owns the socket and
// runs one DuetCall per other member — the same call, with the same
// negotiation engine, that a call of two is — giving each the messages
// that name its member and a stand-in socket that names the member on
// what it sends. In a room of two (a server or app without mesh rooms, or
// a room whose first joiner did not ask for one) it runs one DuetCall
// with every message: a call of two is the mesh with one peer.

import { DuetCall, DuetError } from './duet.js';
import { SignalSocket } from './socket.js';

const FATAL = new Set(['NoSpaceForNewPeer', 'meshClientRequired', 'noStreamNameSpecified', 'invalidStreamName',
  'unauthorized_access', 'authenticationTokenNotValid', 'tooManyRooms']);

/** A member that hung up takes its call with it; any other stop may be a member that comes back. */
const GONE = new Set(['left', 'kicked']);

/** The events of a member's call that the mesh passes on, with `peer` added to their detail. */
const PASSED = ['state', 'connected', 'connectionState', 'track', 'trackEnded', 'message', 'channelOpen',
  'channelClose', 'peerLeft', 'peerReconnecting', 'peerReconnected', 'peerSignalingLost', 'peerMessage',
  'mediaTrouble', 'mediaRecovered', 'iceRestart', 'negotiation', 'callRestart'];

export class DuetMesh extends EventTarget {
  /** @param {import('./duet').DuetMeshOptions} options */
  constructor(options) {
    super();
    if (!options || !options.url || !options.room) throw new TypeError('DuetMesh: url and room are required');
    this.options = { maxPeers: 4, pingInterval: 3000, pongTimeout: 10000, minReconnectDelay: 500,
      maxReconnectDelay: 15000, leaveOnPageHide: true, ...options };
    this.url = this.options.url;
    this.room = this.options.room;
    this.localStream = this.options.localStream || null;
    this.session = this.options.session || randomSession();
    /** The other members' calls, by member id ('' in a room of two). */
    this.peers = new Map();
    this._sessions = new Map(); // member id → its session, from joined and start
    this.id = null; // our member id; '' in a room of two
    this.maxPeers = 0; // the room's limit as the server said (2: a room of two)
    this.state = 'idle';
    this.resumeToken = null;
    this._iceMsg = null;
    this._joined = null;
    this._cleanup = [];
    this._socket = new SignalSocket(this.url, this.options, {
      open: (gen) => this._open(gen),
      message: (msg, gen) => this._dispatch(msg, gen),
      losing: (reason) => [...this.peers.values()].some((p) => p._serverGone(reason)),
      lost: (info) => {
        this._setState('reconnecting');
        for (const p of this.peers.values()) p._socketLost(info);
        this._emit('reconnecting', info);
      },
      error: (err) => this._close('error', err),
    });
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
    promise.catch(() => {});
    this._joined = { promise, resolve, reject, done: false };
    this._setState('connecting');
    if (this.options.leaveOnPageHide) {
      const hide = (e) => { if (!e.persisted) this.leave(); };
      addEventListener('pagehide', hide);
      this._cleanup.push(() => removeEventListener('pagehide', hide));
    }
    this._socket.start();
    return promise;
  }

  /** Hangs up: every member is told at once. */
  leave() {
    if (this.state === 'closed') return;
    this._socket.send({ command: 'leave', streamId: this.room });
    this._close('left');
  }

  /** Sends data on the data channel of every member connected; returns how many it went to. */
  send(data) {
    let n = 0;
    for (const p of this.peers.values()) {
      const ch = p.channel;
      if (ch && ch.readyState === 'open') {
        ch.send(data);
        n++;
      }
    }
    return n;
  }

  /** Sends an opaque message through the server to every member. */
  sendPeerMessage(definition, data) {
    for (const p of this.peers.values()) p.sendPeerMessage(definition, data);
  }

  /** Caps every outgoing video so that together they fit bps (maxBitrate = bps / members − 1). */
  setUplinkBitrate(bps) {
    this.options.uplinkBitrate = bps;
    this._capBitrates();
  }

  // --- socket --------------------------------------------------------------

  _open(gen) {
    if (!this.options.iceServers) this._socket.send({ command: 'getIceServerConfig' });
    this._sendJoin(gen);
    for (const p of this.peers.values()) p._socketOpen(gen); // its join and ICE request go nowhere (_pairSocket)
  }

  /** restart: start our calls over (the one with member peer only, when given). */
  async _sendJoin(gen, restart, peer) {
    let token = this.options.token;
    if (typeof token === 'function') {
      try {
        token = await token({ room: this.room, refresh: false });
      } catch (err) {
        this._emit('error', { definition: 'tokenUnavailable', room: this.room, message: String(err) });
        return;
      }
    }
    if (this._socket.gen !== gen || this.state === 'closed') return;
    const join = { command: 'join', streamId: this.room, multiPeer: false, mode: 'both', session: this.session,
      resumable: true, maxPeers: this.options.maxPeers };
    if (this.resumeToken) join.resumeToken = this.resumeToken;
    if (token) join.token = token;
    if (restart) join.restart = true;
    if (restart && peer) join.peer = peer;
    this._socket.send(join);
  }

  // --- what the server says ------------------------------------------------

  _dispatch(msg, gen) {
    if (this.state === 'closed') return;
    this._emit('signal', { dir: 'in', msg });
    const mesh = !!this.id;
    switch (msg.command) {
      case 'notification':
        switch (msg.definition) {
          case 'joined':
            if (gen === this._socket.gen) this._onJoined(msg, gen);
            return;
          case 'server_will_stop':
            this._emit('serverWillStop', {});
            this._socket.drop('serverWillStop');
            return;
          case 'leaved':
            if (msg.reason === 'kicked') this._close('kicked');
            return;
        }
        break;
      case 'iceServerConfig':
        this._iceMsg = msg;
        for (const p of this.peers.values()) p._receive(msg, gen);
        return;
      case 'error':
        this._emit('error', { definition: msg.definition, room: msg.streamId, error: new DuetError(msg.definition, msg.streamId) });
        if (FATAL.has(msg.definition) && !this._joinedOnce) {
          this._close(msg.definition, new DuetError(msg.definition, msg.streamId));
        } else if (msg.definition === 'NoSpaceForNewPeer') {
          // Our rejoin found no seat: our old one is held for a token we
          // no longer have. Try again; it frees when its grace ends.
          this._socket.drop('refused', 3000);
        }
        return;
      case 'start':
        if (mesh && msg.peerSession) this._sessions.set(msg.peer, msg.peerSession);
        if (mesh) this._rekey(msg.peer, msg.peerSession);
        break;
      case 'stop':
        if (mesh && !msg.peer) { // we were removed
          for (const p of this.peers.values()) p._receive(msg, gen);
          return;
        }
        break;
    }
    const id = mesh ? msg.peer : '';
    if (id === undefined) return;
    let p = this.peers.get(id);
    if (!p && (msg.command === 'start' || msg.command === 'takeConfiguration' || msg.command === 'takeCandidate' ||
      msg.command === 'peerMessageCommand' || !mesh)) p = this._pair(id, msg.peerSession || this._sessions.get(id) || null, gen);
    if (!p) return;
    p._receive(msg, gen);
    if (mesh && msg.command === 'stop' && GONE.has(msg.reason || 'left')) this._drop(id);
  }

  _onJoined(msg, gen) {
    const first = !this._joinedOnce;
    this._joinedOnce = true;
    this._socket.succeeded();
    if (msg.resumeToken) this.resumeToken = msg.resumeToken;
    this.id = msg.peerId || '';
    this.maxPeers = msg.maxPeers || 0;
    if (this.id) {
      const members = msg.peers || [];
      this._sessions = new Map(members.filter((m) => m.session).map((m) => [m.id, m.session]));
      for (const m of members) this._rekey(m.id, m.session);
      for (const [id, p] of this.peers) {
        const m = members.find((x) => x.id === id);
        p._receive({ command: 'notification', definition: 'joined', streamId: this.room, resumed: msg.resumed,
          peerSession: m && m.session }, gen);
      }
    } else {
      (this.peers.get('') || this._pair('', null, gen, true))._receive(msg, gen);
    }
    this._setState('joined');
    this._emit('joined', { room: this.room, id: this.id, maxPeers: this.maxPeers, peers: msg.peers || [],
      reconnected: !first, resumed: !!msg.resumed });
    if (this._joined && !this._joined.done) {
      this._joined.done = true;
      this._joined.resolve();
    }
  }

  /** A member back under a new id (the server lost its state) keeps its call, found by its session. */
  _rekey(id, session) {
    const cur = this.peers.get(id);
    if (!session || (cur && cur.peerSession === session)) return;
    let old = null;
    for (const [k, p] of this.peers) if (k && p.peerSession === session) old = k;
    if (old === null) return;
    if (cur) {
      // The id is another member's from before the server lost its state:
      // that call waits aside until its member shows up (by its session).
      this.peers.delete(id);
      cur._peerRef.id = '~' + id;
      this.peers.set(cur._peerRef.id, cur);
      this._emit('peerRenamed', { from: id, to: cur._peerRef.id });
    }
    const p = this.peers.get(old);
    this.peers.delete(old);
    p._peerRef.id = id;
    this.peers.set(id, p);
    this._emit('peerRenamed', { from: old, to: id });
  }

  // --- the members' calls -------------------------------------------------

  /** Makes the call with member id: a DuetCall on a stand-in socket, told it is in the room. */
  _pair(id, peerSession, gen, twoParty) {
    const ref = { id };
    const o = { ...this.options, url: this.url, room: this.room, session: this.session, leaveOnPageHide: false,
      token: undefined, _socket: () => this._pairSocket(ref) };
    const call = new DuetCall(o);
    call._peerRef = ref;
    this.peers.set(id, call);
    for (const name of PASSED) {
      call.on(name, (detail) => {
        this._emit(name === 'state' ? 'peerState' : name, { ...detail, peer: ref.id });
        if (name === 'connected' || name === 'track') this._capBitrates();
      });
    }
    call.connect();
    if (this._iceMsg) call._receive(this._iceMsg, gen);
    if (!twoParty) {
      call._receive({ command: 'notification', definition: 'joined', streamId: this.room,
        peerSession: peerSession || undefined }, gen);
    }
    this._emit('peerJoined', { peer: id, peerSession });
    this._capBitrates();
    return call;
  }

  /** What a member's call sends goes out on our socket, naming the member (ref.id); joins and leaves are ours. */
  _pairSocket(ref) {
    const mesh = this;
    return {
      get gen() { return mesh._socket.gen; },
      get reopens() { return mesh._socket.reopens; },
      start() {},
      stop() {},
      succeeded() {},
      probe(t) { mesh._socket.probe(t); },
      drop(reason, delay) { mesh._socket.drop(reason, delay); },
      send(msg) {
        switch (msg.command) {
          case 'join':
            // A call given up asks for a new pairing: the server starts that one call over.
            if (msg.restart) mesh._sendJoin(mesh._socket.gen, true, ref.id);
            return mesh._socket.isOpen;
          case 'leave':
          case 'getIceServerConfig':
            return mesh._socket.isOpen;
          case 'qualityReport':
            // Quality reports are a call of two's (one call per room).
            if (ref.id) return true;
        }
        return mesh._socket.send(ref.id ? { ...msg, peer: ref.id } : msg);
      },
    };
  }

  _drop(id) {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    p._shutdown('peerLeft');
    this._emit('peerGone', { peer: id });
    this._capBitrates();
  }

  /** maxBitrate of every video sender: the uplink budget shared by the members we send to. */
  _capBitrates() {
    const bps = this.options.uplinkBitrate;
    if (!bps) return;
    const each = Math.floor(bps / Math.max(1, this.peers.size));
    for (const p of this.peers.values()) {
      if (!p.pc) continue;
      for (const sender of p.pc.getSenders()) {
        if (!sender.track || sender.track.kind !== 'video') continue;
        const params = sender.getParameters();
        if (!params.encodings || !params.encodings.length) continue; // not negotiated yet: capped on connected
        if (params.encodings.every((e) => e.maxBitrate === each)) continue;
        for (const e of params.encodings) e.maxBitrate = each;
        sender.setParameters(params).catch(() => {});
      }
    }
  }

  _close(reason, error) {
    if (this.state === 'closed') return;
    this._socket.stop();
    for (const f of this._cleanup) f();
    this._cleanup = [];
    for (const id of [...this.peers.keys()]) this._drop(id);
    this._setState('closed');
    if (this._joined && !this._joined.done) {
      this._joined.done = true;
      this._joined.reject(error || new Error('duet: ' + reason));
    }
    this._emit('closed', { reason, error });
  }

  _setState(state) {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this._emit('state', { state, previous, mesh: true });
  }

  _emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

function randomSession() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
