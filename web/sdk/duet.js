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
import { urlHost } from './path.js';
import { SignalSocket } from './socket.js';
import { QUALITY_DEFAULTS, QualityReporter } from './quality.js';

export { fingerprint };
export { DuetMesh } from './mesh.js';

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

/** The stop reason of a partner that gave its connection up and asked the server to pair us again. */
const RESTART = 'restart';

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
  rebuildDelay: 1000, // a connection the partner closed: ask for a new one after this, unless it does
  rebuildTimeout: 15000, // a new pairing asked for and nothing came of it: the call waits
  ...ENGINE_DEFAULTS,
  ...QUALITY_DEFAULTS,
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
    this._partnered = false; // the server pairs us with a partner (as far as we know)
    this._turnSuspect = false; // the server we lost ran the TURN relay our path goes through
    this._restarting = 0; // a new pairing is under way since (0: none)
    this._restartJoin = 0; // the socket generation of our join with restart, until its joined
    this._rebuildTimer = 0;
    this._iceRefresh = 0;
    const on = {
      open: (gen) => this._socketOpen(gen),
      message: (msg, gen) => this._receive(msg, gen),
      losing: (reason) => this._serverGone(reason),
      lost: (info) => this._socketLost(info),
      error: (err) => {
        this._emit('error', { definition: 'invalidUrl', message: String(err) });
        this._shutdown('error');
      },
    };
    // A DuetMesh (mesh.js) runs one DuetCall per other member over its own
    // socket: it hands each a stand-in and calls `on` itself.
    this._socket = this.options._socket ? this.options._socket(on) : new SignalSocket(this.url, this.options, on);
    this._quality = new QualityReporter(this);
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
    this._sendJoin(gen, false, !!this._restartJoin);
  }

  /** restart: ask the server to pair us with the partner again (a new negotiation). */
  async _sendJoin(gen, refresh, restart) {
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
    if (restart) {
      join.restart = true;
      this._restartJoin = gen;
    }
    this._send(join);
  }

  /**
   * The socket to the server is going (lost, or the server drains): if
   * our path is relayed through a TURN server that server told us of, it
   * may be going too (the embedded TURN goes down with the process). Then
   * the path is restarted as soon as we are back, without waiting for it
   * to fail, and the reconnect does not back off: the call needs it.
   * Reports whether the reconnect is urgent.
   */
  _serverGone() {
    const link = this.link;
    if (!link || this.state === 'closed') return false;
    if (!this.options.iceServers && link.relayedVia(turnHosts(this._iceServers))) this._turnSuspect = true;
    return this._turnSuspect || (link.connectedOnce && !link.healthy);
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
    this._cancelRebuild();
    clearTimeout(this._iceRefresh);
    clearTimeout(this._restartingTimer);
    this._restarting = 0;
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
        return this._iceConfig(iceServersFrom(msg));
      case 'notification':
        return this._notification(msg, gen);
      case 'start':
        return this._start(msg);
      case 'takeConfiguration':
        this._partnered = true;
        return this._description(msg);
      case 'takeCandidate':
        this._partnered = true;
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
    if (this._restartJoin && this._restartJoin === this._socket.gen) {
      // The answer to our join with restart: the server pairs us anew and
      // the partner offers. A connection made before this answer (from a
      // start of the old pairing) is history.
      this._restartJoin = 0;
      this._closeLink(null);
      this._partnered = !!msg.peerSession || this._partnered;
    }
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
      if (!first) this._partnered = !!msg.peerSession;
    }
    if (this._rebuildWanted && this.link === null && this._partnered) this._rebuild(this._rebuildWanted);
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
    this._partnered = true;
    const link = this.link;
    if (!link) {
      if (this._rebuildWanted) this._rebuild(this._rebuildWanted);
      return;
    }
    link.signalingReady(); // a restart that waited for signaling (and fresh ICE servers)
    const turn = this._turnSuspect;
    this._turnSuspect = false;
    if (link.resendOffer()) return; // an offer in flight (a restart, say) finishes first
    // The impolite side drives restarts; the polite one follows (see peer.js).
    if (link.polite || !link.connectedOnce) return;
    if (turn) link.restartIceOnce('turnServerGone');
    else if (!link.healthy) link.restartIceOnce('signalingBack');
  }

  _start(msg) {
    this._partnered = true;
    this._cancelRebuild();
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
    this._partnered = false;
    this._cancelRebuild();
    const link = this.link;
    if (reason === RESTART) {
      // The partner gave its connection up and asked for a new pairing:
      // start follows, and with it a fresh negotiation.
      this._closeLink(null);
      this._restartingSince();
      this._emit('callRestart', { room: this.room, initiator: 'remote', reason });
      this._updateState();
      return;
    }
    if (!link && this._restarting) {
      // Our connection was already given up for a new pairing: the partner is gone instead.
      this._restarting = 0;
      this._emit('peerLeft', { room: this.room, reason });
      this._updateState();
      return;
    }
    this._restarting = 0;
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
      canSignal: () => this.signaling === 'open' && this._partnered,
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
        this._restarting = 0;
        this._rebuildWanted = '';
        this._updateState();
        this._emit('connected', { room: this.room });
        return;
      case 'connectionState':
        this._updateState();
        this._emit('connectionState', detail);
        return;
      case 'health':
        this._updateState();
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
      case 'ended': {
        // failed: restarts exhausted, this connection cannot be restored.
        // ended: the partner closed its connection (or ours was closed
        // under us). The partner may still be in the room: then, unless
        // it asks for a new pairing itself (stop with restart) first, we
        // do, so that the two are never left waiting for each other.
        const why = name === 'failed' ? 'unreachable' : 'closed';
        if (!this._partnered) {
          this._closeLink(why);
        } else {
          this._closeLink(null);
          const delay = name === 'ended' ? this.options.rebuildDelay : link.polite ? this.options.politeRestartDelay : 0;
          this._scheduleRebuild(why, delay);
        }
        this._updateState();
        return;
      }
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
    this._pendingCandidates = [];
    const hadChannel = link.channel && link.channel.readyState !== 'closed';
    link.close();
    if (hadChannel) this._emit('channelClose', {});
    if (reason !== null) this._emit('peerLeft', { room: this.room, reason });
  }

  // --- a new pairing (no dead end) ----------------------------------------

  /**
   * A connection given up while the partner may still be in the room
   * would leave both waiting for a peer that is there: after delay ms,
   * unless the server paired us anew meanwhile (stop with restart, start),
   * ask it to (join with restart: the partner gets stop, then start, and
   * offers on a new connection).
   */
  _scheduleRebuild(reason, delay) {
    this._cancelRebuild();
    this._rebuildWanted = reason;
    this._restartingSince();
    this._rebuildTimer = setTimeout(() => {
      this._rebuildTimer = 0;
      if (this._rebuildWanted && !this.link && this._partnered) this._rebuild(reason);
    }, delay);
  }

  _cancelRebuild() {
    clearTimeout(this._rebuildTimer);
    this._rebuildTimer = 0;
    this._rebuildWanted = '';
  }

  _rebuild(reason) {
    if (this.state === 'closed' || this.link) return;
    if (this.signaling !== 'open') return; // the next joined does it (_rebuildWanted stays)
    this._rebuildWanted = '';
    this._restartingSince();
    this._emit('callRestart', { room: this.room, initiator: 'local', reason });
    this._sendJoin(this._socket.gen, false, true);
    this._updateState();
  }

  _restartingSince() {
    if (!this._restarting) this._restarting = Date.now();
    clearTimeout(this._restartingTimer);
    this._restartingTimer = setTimeout(() => {
      if (!this._restarting || this.link) return;
      this._restarting = 0; // nothing came of it: the call waits, as it is
      this._updateState();
    }, this.options.rebuildTimeout);
  }

  // --- ICE servers ---------------------------------------------------------

  /**
   * The server's ICE servers, asked on every socket open: the next peer
   * connection uses them, and so does the next ICE restart of the current
   * one (a restarted server mints credentials its predecessor's TURN
   * would refuse, or runs its TURN elsewhere). TURN credentials are asked
   * again before they expire, and a path relayed on ours is restarted
   * with the new ones (a TURN server refuses to refresh an allocation made
   * with an expired credential).
   */
  _iceConfig(servers) {
    const refreshing = this._refreshing;
    this._refreshing = null;
    this._iceServers = servers;
    const link = this.link;
    if (link) link.setIceServers(servers);
    clearTimeout(this._iceRefresh);
    const expiry = credentialExpiry(servers);
    if (refreshing && expiry > refreshing.expiry && link && link === refreshing.link &&
        link.path.pair && link.path.pair.local.type === 'relay') {
      link.restartIce('turnCredentials');
    }
    if (!expiry) return;
    const left = expiry - Date.now();
    this._iceRefresh = setTimeout(() => this._refreshIce(expiry), Math.max(1000, Math.min(0.75 * left, 2 ** 31 - 1)));
  }

  _refreshIce(expiry) {
    if (this.state === 'closed') return;
    this._refreshing = { link: this.link, expiry };
    if (!this._socket.send({ command: 'getIceServerConfig' })) this._refreshing = null; // the next socket asks anyway
  }

  // --- state ---------------------------------------------------------------

  _updateState() {
    if (this.state === 'closed') return;
    const link = this.link;
    let s;
    if (link) {
      if (link.healthy && link.connectedOnce) s = 'connected';
      else if (link.connectedOnce || this._restarting) s = 'reconnecting';
      else s = 'negotiating';
    } else if (this._restarting) {
      s = 'reconnecting'; // a new pairing with the same partner is under way
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

/**
 * Plays a media element (the partner's video) as far as the browser's
 * autoplay policy allows: with sound if it may; else muted, so the
 * picture shows (unmute it from a user gesture: a tap on a button); else
 * not at all until a user gesture calls play() again. Firefox and Safari
 * refuse audible playback that no gesture started, unless the page is
 * capturing the camera or microphone (Safari) or the site is allowed.
 * Resolves to 'playing', 'muted' or 'blocked' ('aborted' when a newer
 * load interrupted this one; its own play decides).
 * @param {HTMLMediaElement} el
 */
export async function playMedia(el) {
  try {
    await el.play();
    return el.muted ? 'muted' : 'playing';
  } catch (err) {
    if (err && err.name === 'AbortError') return 'aborted';
    if (el.muted) return 'blocked';
  }
  el.muted = true;
  try {
    await el.play();
    return 'muted';
  } catch (err) {
    return err && err.name === 'AbortError' ? 'aborted' : 'blocked';
  }
}

/** The hosts of the TURN servers in an RTCIceServer list. */
function turnHosts(servers) {
  const hosts = new Set();
  for (const s of servers || []) {
    for (const u of [].concat(s.urls || [])) if (/^turns?:/i.test(u)) hosts.add(urlHost(u));
  }
  return hosts;
}

/**
 * When the TURN credentials of an RTCIceServer list expire (ms since the
 * epoch), from a TURN REST username (`expiry:user`); 0 when none says.
 */
function credentialExpiry(servers) {
  let first = 0;
  for (const s of servers || []) {
    const m = /^(\d{9,}):/.exec(s.username || '');
    if (!m) continue;
    const at = Number(m[1]) * 1000;
    if (!first || at < first) first = at;
  }
  return first;
}

/** A random session id (128 bits, base64url), made once per call. */
function newSession() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
