// duet browser SDK: a one-to-one WebRTC call through a duet (or Ant Media
// peer-to-peer) signaling server. No dependencies; see duet.d.ts for the API
// and ../../docs/protocol.md for the wire contract it follows.
//
// A call ends only when someone hangs up. The signaling socket comes and
// goes (network changes, server restarts, drains); the peer connection
// (peer.js) stays, with its tracks and data channel, as long as it can be
// kept: the server holds our seat while we reconnect (resumeToken), and
// after a restart the two sides recognise each other by their session ids.

import { ENGINE_DEFAULTS, PeerLink, fingerprint } from './peer.js';
import { SignalSocket } from './socket.js';

export { fingerprint };

/** Join errors that retrying cannot fix: the call stops instead of reconnecting. */
const FATAL = new Set([
  'NoSpaceForNewPeer',
  'noStreamNameSpecified',
  'invalidStreamName',
  'unauthorized_access',
  'authenticationTokenNotValid',
  'tooManyRooms',
]);

/** Refusals of a token: a token function may have a fresher one. */
const TOKEN_REFUSED = new Set(['unauthorized_access', 'authenticationTokenNotValid']);

/** Why the partner left for good (stop reasons); any other keeps a working connection. */
const HUNG_UP = new Set(['left', 'kicked']);

const DEFAULTS = {
  dataChannel: true,
  pingInterval: 3000, // the Ant Media JS SDK's interval
  pongTimeout: 10000, // no frame at all for this long: the socket is dead
  minReconnectDelay: 500,
  maxReconnectDelay: 15000,
  probeTimeout: 750, // a ping sent when the media path broke must be answered this fast
  tokenRetries: 3,
  leaveOnPageHide: true,
  maxQueued: 500, // messages kept for the partner while the socket is down
  ...ENGINE_DEFAULTS,
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
    /** This call's id, sent with every join so the partner knows us again after a server restart. */
    this.session = this.options.session || newSession();
    this.state = 'idle';
    this.signaling = 'idle';
    this.peerSession = null; // the partner's session, when it sent one
    this.resumeToken = null;
    this.link = null;
    this._joinedOnce = false;
    this._tokenTries = 0;
    this._queue = []; // relays for the partner while the socket is down
    this._inbox = Promise.resolve();
    this._pendingCandidates = [];
    this._extras = new Map(); // local track → its stream, for tracks beyond localStream's
    this._cleanup = [];
    // Caller-supplied ICE servers win; otherwise the server's answer to
    // getIceServerConfig decides (none configured: host candidates only).
    this._iceServers = this.options.iceServers || [];
    this._joined = null;
    this._socket = new SignalSocket(this.url, this.options, {
      open: (gen) => this._socketOpen(gen),
      message: (msg, gen) => this._receive(msg, gen),
      lost: (info) => this._socketLost(info),
      error: (err) => {
        this._emit('error', { definition: 'invalidUrl', message: String(err) });
        this._shutdown('error');
      },
    });
  }

  // --- public API ----------------------------------------------------------

  get pc() { return this.link ? this.link.pc : null; }
  get channel() { return this.link ? this.link.channel : null; }
  get remoteStream() { return this.link ? this.link.remoteStream : null; }
  get reconnects() { return this._socket.reopens; }
  /** Negotiation counters of the current peer connection (offers, answers, collisions, ignoredOffers, withdrawnOffers, iceRestarts). */
  get counters() { return this.link ? { ...this.link.counters } : null; }

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
    this._setSignaling('connecting');
    this._setState('connecting');
    this._listenToNetwork();
    this._socket.start();
    return promise;
  }

  /** Hangs up for good: sends `leave` (the partner is told at once), closes the call and the socket. */
  leave() {
    if (this.state === 'closed') return;
    this._socket.send({ command: 'leave', streamId: this.room });
    this._shutdown('left');
  }

  /** Sends text (or binary) to the peer over the data channel. Throws when it is not open. */
  send(data) {
    const ch = this.channel;
    if (!ch || ch.readyState !== 'open') throw new Error('duet: data channel is not open');
    ch.send(data);
  }

  /** Sends an opaque peerMessageCommand through the server to the peer (kept while the socket reconnects). */
  sendPeerMessage(definition, data) {
    this._relay({ command: 'peerMessageCommand', streamId: this.room, definition, data });
  }

  /**
   * Sends track to the partner, negotiated on the current connection. A
   * track of localStream (pass stream = call.localStream) is the camera or
   * microphone: it takes the place of the one removed before; any other
   * stream (a screen) is sent alongside.
   */
  addTrack(track, stream) {
    if (!stream) stream = this.localStream || (this.localStream = new MediaStream());
    const main = stream === this.localStream;
    if (!main) this._extras.set(track, stream);
    else if (!this.localStream.getTrackById(track.id)) this.localStream.addTrack(track);
    return this.link ? this.link.addTrack(track, stream, main) : null;
  }

  /** Stops sending track (the partner sees it end); renegotiated on the same connection. */
  removeTrack(track) {
    this._extras.delete(track);
    if (this.localStream && this.localStream.getTrackById(track.id)) this.localStream.removeTrack(track);
    return this.link ? this.link.removeTrack(track) : false;
  }

  /** Restarts ICE now (new candidates on the current networks), on the same connection. */
  restartIce() {
    if (this.link) this.link.restartIce('manual');
  }

  // --- socket --------------------------------------------------------------

  _socketOpen(gen) {
    if (!this.options.iceServers) this._socket.send({ command: 'getIceServerConfig' });
    this._sendJoin(gen, false);
  }

  async _sendJoin(gen, refresh) {
    let token = this.options.token;
    if (typeof token === 'function') {
      try {
        token = await token({ room: this.room, refresh });
      } catch (err) {
        this._emit('error', { definition: 'tokenUnavailable', room: this.room, message: String(err) });
        if (!this._joinedOnce) this._shutdown('tokenUnavailable', err);
        else if (this._socket.gen === gen) this._socket.drop('token');
        return;
      }
    }
    if (this._socket.gen !== gen || this.state === 'closed') return;
    const join = {
      command: 'join', streamId: this.room, multiPeer: false, mode: 'both',
      session: this.session, resumable: true,
    };
    if (this.resumeToken) join.resumeToken = this.resumeToken;
    if (token) join.token = token;
    this._send(join);
  }

  _socketLost({ attempt, delay, reason }) {
    if (this.state === 'closed') return;
    this._setSignaling('reconnecting');
    this._updateState();
    this._emit('reconnecting', { attempt, delay, reason });
  }

  _send(msg) {
    const ok = this._socket.send(msg);
    if (ok) this._emit('signal', { dir: 'out', msg });
    return ok;
  }

  /** Relays go out now, or wait (bounded) for the socket to be back in the room. */
  _relay(msg) {
    if (this.signaling === 'open' && this._send(msg)) return;
    if (this._queue.length >= this.options.maxQueued) this._queue.shift();
    this._queue.push(msg);
  }

  _flushQueue() {
    const q = this._queue;
    this._queue = [];
    for (const m of q) this._send(m);
  }

  _listenToNetwork() {
    // A network change (Wi-Fi to cellular): candidates of the old network are
    // gone and the new one has none yet. Restart ICE and check the socket.
    const changed = (why) => {
      if (this.state === 'closed') return;
      this._socket.probe(this.options.probeTimeout);
      if (this.link) this.link.networkChanged(why);
    };
    const online = () => changed('online');
    addEventListener('online', online);
    this._cleanup.push(() => removeEventListener('online', online));
    const conn = globalThis.navigator && navigator.connection;
    if (conn && conn.addEventListener) {
      let type = conn.type;
      const change = () => {
        if (conn.type === type) return; // rtt and bandwidth estimates change all the time
        type = conn.type;
        changed('networkChange');
      };
      conn.addEventListener('change', change);
      this._cleanup.push(() => conn.removeEventListener('change', change));
    }
    if (this.options.leaveOnPageHide) {
      const hide = (e) => { if (!e.persisted) this.leave(); };
      addEventListener('pagehide', hide);
      this._cleanup.push(() => removeEventListener('pagehide', hide));
    }
  }

  _shutdown(reason, error) {
    this._socket.stop();
    for (const f of this._cleanup) f();
    this._cleanup = [];
    this._closeLink(null);
    this._queue = [];
    this._setSignaling('closed');
    this._setState('closed');
    if (this._joined && !this._joined.done) {
      this._joined.done = true;
      this._joined.reject(error || new Error('duet: ' + reason));
    }
    this._emit('closed', { reason, error });
  }

  // --- signaling -----------------------------------------------------------

  _receive(msg, gen) {
    this._emit('signal', { dir: 'in', msg });
    // One message at a time: a description must be in before the candidates after it.
    this._inbox = this._inbox
      .then(() => this._handle(msg, gen))
      .catch((err) => this._emit('error', { definition: 'internal', message: String(err && err.message || err), error: err }));
  }

  async _handle(msg, gen) {
    if (this.state === 'closed') return;
    switch (msg.command) {
      case 'iceServerConfig':
        this._iceServers = iceServersFrom(msg);
        return;
      case 'notification':
        return this._notification(msg, gen);
      case 'start':
        return this._start(msg);
      case 'takeConfiguration':
        return this._description(msg);
      case 'takeCandidate':
        return this._candidate(msg);
      case 'stop':
        return this._stop(msg);
      case 'peerMessageCommand':
        this._emit('peerMessage', { definition: msg.definition, data: msg.data });
        return;
      case 'error':
        return this._error(msg);
    }
  }

  _notification(msg, gen) {
    switch (msg.definition) {
      case 'joined':
        // A joined of a socket lost since then says nothing about the next one.
        if (gen === this._socket.gen) this._onJoined(msg);
        return;
      case 'server_will_stop':
        // The server is draining: move now, with jitter, rather than be cut off.
        this._emit('serverWillStop', {});
        this._socket.drop('serverWillStop');
        return;
      case 'peerReconnecting':
        this._emit('peerReconnecting', { room: this.room, grace: msg.reconnectGrace });
        return;
      case 'peerReconnected':
        this._emit('peerReconnected', { room: this.room });
        this._partnerBack();
        return;
    }
  }

  _onJoined(msg) {
    const first = !this._joinedOnce;
    this._joinedOnce = true;
    this._tokenTries = 0;
    this._socket.succeeded();
    if (msg.resumeToken) this.resumeToken = msg.resumeToken;
    this._setSignaling('open');
    if (msg.resumed) {
      // Our seat was held: the partner never left, and what it sent
      // meanwhile follows this message. What we had to send goes now.
      this._flushQueue();
      this._partnerBack();
    } else {
      // A fresh seat: whatever the server knew is gone (or this is the
      // first join). Nothing queued can reach anyone.
      this._queue = [];
      if (!first) this._serverForgot(msg.peerSession);
      else if (msg.peerSession) this.peerSession = msg.peerSession;
    }
    this._updateState();
    this._emit('joined', { room: this.room, reconnected: !first, resumed: !!msg.resumed, peerSession: msg.peerSession || null });
    if (this._joined && !this._joined.done) {
      this._joined.done = true;
      this._joined.resolve();
    }
  }

  /**
   * We rejoined as a newcomer (server restart, expired hold). If the
   * partner is in the room and is the one our connection goes to, keep it;
   * another partner means our connection is history. An empty room: keep a
   * connection to a known partner and wait for it (start tells).
   */
  _serverForgot(peerSession) {
    if (!this.link) {
      this.peerSession = peerSession || null;
      return;
    }
    if (peerSession && peerSession === this.peerSession) {
      this._partnerBack();
    } else if (peerSession || !this.peerSession) {
      // A different partner, or one we could never recognise (no session).
      this._closeLink('replaced');
      this.peerSession = peerSession || null;
    }
  }

  /** The partner is reachable through the server again: finish what the gap interrupted. */
  _partnerBack() {
    const link = this.link;
    if (!link || link.resendOffer()) return; // an offer in flight (a restart, say) finishes first
    // The impolite side drives restarts; the polite one follows (see peer.js).
    if (!link.healthy && link.connectedOnce && !link.polite) link.restartIceOnce('signalingBack');
  }

  _start(msg) {
    // A partner joined while we waited: we offer, unless it is the partner
    // our connection already goes to (after a server restart).
    if (this.link && msg.peerSession && msg.peerSession === this.peerSession) {
      this._updateState();
      this._partnerBack();
      return;
    }
    this._closeLink('replaced');
    this.peerSession = msg.peerSession || null;
    const link = this._newLink(false);
    link.startOffer(this.localStream, this.options.dataChannel ? this.room : null);
    for (const [track, stream] of this._extras) link.addTrack(track, stream, false);
  }

  async _description(msg) {
    if (msg.type !== 'offer' && msg.type !== 'answer') return;
    let link = this.link;
    if (link && msg.type === 'offer' && link.pc.remoteDescription && fingerprint(msg.sdp) !== link.remoteFingerprint()) {
      // A new connection from the partner's side (its page reloaded, an
      // SDK without sessions started over): ours is history.
      this._closeLink('replaced');
      link = null;
    }
    if (!link) {
      if (msg.type !== 'offer') return;
      link = this._newLink(true);
      link.awaitOffer(this.localStream, this._extras);
    }
    await link.description({ type: msg.type, sdp: msg.sdp });
  }

  async _candidate(msg) {
    const c = { candidate: msg.candidate, sdpMLineIndex: Number(msg.label), sdpMid: msg.id };
    if (!this.link) {
      // Candidates can overtake the offer's processing: keep them for later.
      this._pendingCandidates.push(c);
      return;
    }
    await this.link.candidate(c);
  }

  _stop(msg) {
    const reason = msg.reason || 'left'; // servers without reasons send stop only when the partner went
    const link = this.link;
    if (link && !HUNG_UP.has(reason) && link.connectedOnce && link.healthy) {
      // The partner lost the server, not us: media still flows. Keep it;
      // it comes back as a new join (or the path dies and we give up).
      this._emit('peerSignalingLost', { room: this.room, reason });
      this._updateState();
      return;
    }
    this._closeLink(reason);
    this._updateState();
  }

  _error(msg) {
    const err = new DuetError(msg.definition, msg.streamId);
    const refused = TOKEN_REFUSED.has(msg.definition);
    const retry = refused && this._joinedOnce && typeof this.options.token === 'function' &&
      this._tokenTries < this.options.tokenRetries;
    this._emit('error', { definition: msg.definition, room: msg.streamId, error: err, retrying: retry });
    if (retry) {
      // The call was in the room before: its token expired meanwhile. Ask for a new one.
      this._tokenTries++;
      this._sendJoin(this._socket.gen, true);
      return;
    }
    if (FATAL.has(msg.definition)) this._shutdown(msg.definition, err);
  }

  // --- the peer connection -------------------------------------------------

  _newLink(polite) {
    const link = new PeerLink({
      polite,
      config: { ...(this.options.rtcConfig || {}), iceServers: this._iceServers },
      timing: this.options,
      signal: (m) => this._signalFrom(link, m),
      emit: (name, detail) => this._linkEvent(link, name, detail),
    });
    this.link = link;
    const queued = this._pendingCandidates;
    this._pendingCandidates = [];
    for (const c of queued) link.candidate(c);
    this._updateState();
    return link;
  }

  _signalFrom(link, m) {
    if (link !== this.link) return;
    if (m.candidate) {
      const c = m.candidate;
      this._relay({
        command: 'takeCandidate', streamId: this.room,
        label: c.sdpMLineIndex ?? 0, id: c.sdpMid ?? '0', candidate: c.candidate,
      });
    } else {
      this._relay({ command: 'takeConfiguration', streamId: this.room, type: m.type, sdp: m.sdp });
    }
  }

  _linkEvent(link, name, detail) {
    if (link !== this.link) return;
    switch (name) {
      case 'connected':
        this._updateState();
        this._emit('connected', { room: this.room });
        return;
      case 'connectionState':
        this._updateState();
        this._emit('connectionState', detail);
        return;
      case 'trouble':
        // The media path broke: our socket may have gone with it (same network).
        this._socket.probe(this.options.probeTimeout);
        this._updateState();
        this._emit('mediaTrouble', detail);
        return;
      case 'recovered':
        this._updateState();
        this._emit('mediaRecovered', detail);
        return;
      case 'failed':
        // Restarts exhausted: the partner is unreachable for good.
        this._closeLink('unreachable');
        this._updateState();
        return;
      case 'ended':
        // The partner closed its connection. A hang-up sends leave first,
        // but the server's stop with the reason takes the longer way: wait
        // for it a little, so that peerLeft says why (else: closed).
        if (this.signaling === 'open') {
          if (!this._endTimer) {
            this._endTimer = setTimeout(() => {
              this._endTimer = null;
              if (this.link !== link) return;
              this._closeLink('closed');
              this._updateState();
            }, Math.max(1000, 4 * (this._socket.rtt || 0)));
          }
          return;
        }
        this._closeLink('closed');
        this._updateState();
        return;
      case 'negotiationError':
        this._emit('error', { definition: 'negotiationFailed', room: this.room, message: String(detail.error), error: detail.error });
        return;
      case 'track':
      case 'trackEnded':
      case 'message':
      case 'channelOpen':
      case 'channelClose':
      case 'iceRestart':
      case 'negotiation':
        this._emit(name, detail);
        return;
    }
  }

  /** Closes the peer connection; reason (when not null) is told as peerLeft. */
  _closeLink(reason) {
    const link = this.link;
    if (!link) return;
    this.link = null;
    clearTimeout(this._endTimer);
    this._endTimer = null;
    this._pendingCandidates = [];
    const hadChannel = link.channel && link.channel.readyState !== 'closed';
    link.close();
    if (hadChannel) this._emit('channelClose', {});
    if (reason !== null) this._emit('peerLeft', { room: this.room, reason });
  }

  // --- state ---------------------------------------------------------------

  _updateState() {
    if (this.state === 'closed') return;
    const link = this.link;
    let s;
    if (link) {
      if (link.healthy && link.connectedOnce) s = 'connected';
      else if (link.connectedOnce) s = 'reconnecting';
      else s = 'negotiating';
    } else if (this.signaling === 'open') {
      s = 'waiting';
    } else {
      s = this._joinedOnce ? 'reconnecting' : 'connecting';
    }
    this._setState(s);
  }

  _setSignaling(state) {
    if (this.signaling === state) return;
    const previous = this.signaling;
    this.signaling = state;
    this._emit('signaling', { state, previous });
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

/** A random session id (128 bits, base64url), made once per call. */
function newSession() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
