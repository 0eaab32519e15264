// duet.js's negotiation engine: one RTCPeerConnection with one partner, and
// the only place where an offer or an answer is made. Perfect negotiation
// (roles decide who yields when offers cross; nothing is ever rolled
// back), track changes mid-call, and, through path.js, ICE restarts when
// the path breaks. It knows nothing about sockets: descriptions and
// candidates go out through `signal` and come in through description()
// and candidate().

import { PathWatch } from './path.js';

export { ENGINE_DEFAULTS } from './path.js';

export class PeerLink {
  /**
   * @param {object} o
   * @param {boolean} o.polite   the side that yields when offers cross
   * @param {RTCConfiguration} o.config
   * @param {(m: {type?: string, sdp?: string, candidate?: RTCIceCandidate}) => void} o.signal
   * @param {(name: string, detail: object) => void} o.emit
   * @param {() => boolean} [o.canSignal] whether an offer can reach the partner now
   * @param {object} o.timing   ENGINE_DEFAULTS (path.js), possibly changed
   */
  constructor(o) {
    this.polite = o.polite;
    this.timing = o.timing;
    this._signal = o.signal;
    this._emit = o.emit;
    this.canSignal = o.canSignal || (() => true);
    this.pc = new RTCPeerConnection(o.config);
    this.channel = null;
    this.remoteStream = new MediaStream();
    this.connectedOnce = false;
    this.closed = false;
    this._whenClosed = new Promise((resolve) => { this._markClosed = resolve; });
    this.counters = { offers: 0, answers: 0, collisions: 0, ignoredOffers: 0, withdrawnOffers: 0, iceRestarts: 0 };
    this._makingOffer = false;
    this._answerPending = false;
    this._offerOut = null; // polite side: our offer, sent and not yet applied
    this._offerGen = 0; // bumped when an offer being made is overtaken
    this._again = false; // a change waits for the next offer
    this._needTracks = null; // answerer: local tracks to add once the first offer is in
    this._needExtras = null;
    this._pending = []; // remote candidates that came before a remote description
    this._receiving = new Map(); // transceiver → is the partner sending on it
    this._extraStreams = new Map(); // transceiver → MediaStream for tracks beyond the first of a kind
    this.path = new PathWatch(this);
    this._wire();
  }

  _wire() {
    const pc = this.pc;
    pc.onnegotiationneeded = () => this._offer();
    pc.onicecandidate = (e) => {
      if (!this.closed && e.candidate && e.candidate.candidate) this._signal({ candidate: e.candidate });
    };
    pc.ondatachannel = (e) => this._useChannel(e.channel);
    pc.onsignalingstatechange = () => {
      if (pc.signalingState === 'stable') this._syncRemoteTracks();
    };
    pc.oniceconnectionstatechange = () => this.path.iceStateChanged();
    pc.onconnectionstatechange = () => {
      if (this.closed) return;
      this._emit('connectionState', { state: pc.connectionState });
      if (pc.connectionState === 'connected') {
        this._watchTransports();
        if (!this.connectedOnce) {
          this.connectedOnce = true;
          this._emit('connected', {});
        }
      }
      this.path.iceStateChanged();
    };
  }

  // --- setup ---------------------------------------------------------------

  /** The side told `start`: sends local tracks, asks for the partner's and opens the data channel. */
  startOffer(localStream, channelLabel) {
    const kinds = new Set();
    if (localStream) {
      for (const t of localStream.getTracks()) {
        this.pc.addTrack(t, localStream);
        kinds.add(t.kind);
      }
    }
    // Without a camera or microphone we still want the partner's media.
    for (const kind of ['audio', 'video']) {
      if (!kinds.has(kind)) this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    if (channelLabel) this._useChannel(this.pc.createDataChannel(channelLabel));
  }

  /**
   * The other side: local tracks go onto the offer's m-lines once it is in;
   * extra tracks (track → stream) follow in an offer of ours.
   */
  awaitOffer(localStream, extras) {
    this._needTracks = localStream;
    this._needExtras = extras && extras.size ? new Map(extras) : null;
  }

  // --- perfect negotiation -------------------------------------------------
  //
  // Roles decide who yields when offers cross: the impolite side (told
  // `start`) ignores the partner's offer; the polite side drops its own.
  // The polite side does that without a rollback: it applies its offer
  // (setLocalDescription) only once the answer is in, so a crossed offer
  // was never applied and is simply withdrawn, then made again after the
  // partner's offer is answered. Chromium (156) stops delivering the remote
  // video to its track, for good, after any rollback of a local offer;
  // this way no call ever rolls back. The price: the polite side's ICE
  // candidates for an offer trickle after the answer, one round trip later.

  async _offer() {
    const pc = this.pc;
    if (this.closed || pc.signalingState !== 'stable') return; // fired again when stable
    if (this.polite) return this._politeOffer();
    try {
      this._makingOffer = true;
      await pc.setLocalDescription();
      if (this.closed || pc.signalingState !== 'have-local-offer') return;
      this.counters.offers++;
      this._signal({ type: 'offer', sdp: pc.localDescription.sdp });
    } catch (err) {
      if (!this.closed) this._emit('negotiationError', { error: err });
    } finally {
      this._makingOffer = false;
    }
  }

  async _politeOffer() {
    if (this._offerOut || this._makingOffer) {
      this._again = true; // one at a time: this change goes in the next offer
      return;
    }
    const gen = ++this._offerGen;
    this._makingOffer = true;
    try {
      const offer = await this.pc.createOffer();
      if (this.closed || gen !== this._offerGen || this.pc.signalingState !== 'stable') {
        this._again = true; // overtaken by the partner's offer
        return;
      }
      this._offerOut = { type: 'offer', sdp: offer.sdp };
      this.counters.offers++;
      this._signal(this._offerOut);
    } catch (err) {
      if (!this.closed) this._emit('negotiationError', { error: err });
    } finally {
      this._makingOffer = false;
    }
  }

  /** A description from the partner. */
  async description(desc) {
    if (this.closed) return;
    if (desc.type === 'answer') return this._answered(desc);
    const pc = this.pc;
    let collision;
    if (this.polite) {
      collision = !!this._offerOut || this._makingOffer;
      if (collision) {
        this.counters.collisions++;
        this.counters.withdrawnOffers++;
        this._offerGen++;
        this._offerOut = null;
        this._again = true;
        this._emit('negotiation', { event: 'withdrawnOffer' });
      }
    } else {
      collision = this._makingOffer || (pc.signalingState !== 'stable' && !this._answerPending);
      if (collision) {
        this.counters.collisions++;
        this.counters.ignoredOffers++;
        this._emit('negotiation', { event: 'ignoredOffer' });
        return;
      }
    }
    if (pc.remoteDescription && iceUfrag(desc.sdp) !== iceUfrag(pc.remoteDescription.sdp)) this.path.remoteRestarted();
    await this._op(pc.setRemoteDescription({ type: 'offer', sdp: desc.sdp }));
    if (this.closed) return;
    await this._flushCandidates();
    if (this._needTracks !== null) {
      // addTrack takes the offer's transceiver of the same kind.
      const stream = this._needTracks;
      this._needTracks = null;
      if (stream) for (const t of stream.getTracks()) pc.addTrack(t, stream);
    }
    await this._op(pc.setLocalDescription());
    if (this.closed) return;
    this.counters.answers++;
    this._signal({ type: 'answer', sdp: pc.localDescription.sdp });
    this.path.checksStarted();
    const extras = this._needExtras;
    this._needExtras = null;
    if (extras) for (const [track, stream] of extras) this.addTrack(track, stream, false);
    if (this._again) this._offerAgain();
  }

  async _answered(desc) {
    const pc = this.pc;
    if (this.polite) {
      const offer = this._offerOut;
      if (!offer || pc.signalingState !== 'stable') return; // withdrawn, or answered twice across a reconnect
      this._offerOut = null;
      await this._op(pc.setLocalDescription(offer));
      if (this.closed) return;
      await this._op(pc.setRemoteDescription({ type: 'answer', sdp: desc.sdp }));
    } else {
      if (pc.signalingState !== 'have-local-offer') return; // answered twice across a reconnect
      this._answerPending = true;
      try {
        await this._op(pc.setRemoteDescription({ type: 'answer', sdp: desc.sdp }));
      } finally {
        this._answerPending = false;
      }
    }
    if (this.closed) return;
    this.path.checksStarted();
    await this._flushCandidates();
    if (this._again) this._offerAgain();
  }

  /** A change that waited for the negotiation under way goes out now. */
  _offerAgain() {
    this._again = false;
    queueMicrotask(() => this._offer());
  }

  /** A trickled candidate from the partner. Stale ones (an old ICE generation, an ignored offer) are dropped. */
  async candidate(c) {
    if (this.closed) return;
    if (!this.pc.remoteDescription) {
      this._pending.push(c);
      return;
    }
    await addCandidate(this, c);
  }

  async _flushCandidates() {
    const queued = this._pending;
    this._pending = [];
    for (const c of queued) await addCandidate(this, c);
  }

  /**
   * Our offer is waiting for an answer that may have been lost with a
   * socket: send it again (an answered duplicate is harmless).
   */
  resendOffer() {
    const pc = this.pc;
    if (this.closed || this._makingOffer) return false;
    if (this._offerOut) {
      this._signal(this._offerOut);
    } else if (pc.signalingState === 'have-local-offer') {
      this._signal({ type: 'offer', sdp: pc.localDescription.sdp });
    } else {
      return false;
    }
    return true;
  }

  /** An offer of ours waits for its answer. */
  get offering() {
    return !!this._offerOut || this.pc.signalingState === 'have-local-offer';
  }

  /** Session description fingerprint of the partner, to tell its connection from a new one. */
  remoteFingerprint() {
    return fingerprint(this.pc.remoteDescription && this.pc.remoteDescription.sdp);
  }

  // --- tracks --------------------------------------------------------------

  /**
   * Sends track. A main track (of the call's localStream) goes on the first
   * transceiver of its kind, so the partner shows it as the camera or the
   * microphone; any other track (a screen) on a transceiver of its own,
   * reused once freed. Either way the change is negotiated on this
   * connection.
   */
  addTrack(track, stream, main) {
    const pc = this.pc;
    const mine = pc.getTransceivers().filter((t) => live(t) && t.receiver.track.kind === track.kind);
    let tr = main ? mine[0] : mine.slice(1).find((t) => !t.sender.track);
    if (tr && tr.sender.track && tr.sender.track !== track) {
      tr = null; // the main slot is taken: send alongside
    }
    if (!tr) {
      if (main && this._needTracks !== null) return; // the answer will take it
      const sender = main ? pc.addTrack(track, stream) : pc.addTransceiver(track, { direction: 'sendrecv', streams: [stream] }).sender;
      return sender;
    }
    tr.sender.replaceTrack(track);
    if (tr.sender.setStreams) tr.sender.setStreams(stream);
    tr.direction = tr.direction === 'inactive' || tr.direction === 'sendonly' ? 'sendonly' : 'sendrecv';
    return tr.sender;
  }

  /** Stops sending track; the m-line stays for the next one. */
  removeTrack(track) {
    for (const tr of this.pc.getTransceivers()) {
      if (!live(tr) || tr.sender.track !== track) continue;
      tr.sender.replaceTrack(null);
      tr.direction = tr.direction === 'sendrecv' ? 'recvonly' : 'inactive';
      return true;
    }
    return false;
  }

  /** After each completed negotiation: which transceivers carry the partner's media now. */
  _syncRemoteTracks() {
    if (this.closed) return;
    const first = new Map();
    for (const t of this.pc.getTransceivers()) {
      const kind = t.receiver.track.kind;
      if (!first.has(kind)) first.set(kind, t);
      const rx = t.currentDirection === 'sendrecv' || t.currentDirection === 'recvonly';
      if (rx === (this._receiving.get(t) || false)) continue;
      this._receiving.set(t, rx);
      const main = first.get(kind) === t;
      const track = t.receiver.track;
      let stream = this.remoteStream;
      if (!main) {
        stream = this._extraStreams.get(t);
        if (!stream) this._extraStreams.set(t, (stream = new MediaStream()));
      }
      if (rx) {
        if (!stream.getTrackById(track.id)) stream.addTrack(track);
        this._emit('track', { track, streams: [stream], stream, main, mid: t.mid });
      } else {
        stream.removeTrack(track);
        this._emit('trackEnded', { track, stream, main, mid: t.mid });
      }
    }
    if (![...this._receiving.values()].some(Boolean)) this.path.noMediaExpected();
  }

  // --- data channel --------------------------------------------------------

  _useChannel(ch) {
    this.channel = ch;
    ch.onopen = () => { if (this.channel === ch && !this.closed) this._emit('channelOpen', {}); };
    ch.onclose = () => { if (this.channel === ch && !this.closed) this._emit('channelClose', {}); };
    ch.onmessage = (e) => {
      if (this.channel === ch) this._emit('message', { data: e.data, text: typeof e.data === 'string' ? e.data : null });
    };
  }

  // --- keeping the path up (path.js) --------------------------------------

  get healthy() {
    return this.path.healthy;
  }

  /** Restarts ICE now, on the same connection. */
  restartIce(reason) {
    this.path.restartIce(reason);
  }

  /** restartIce, unless one is still under way. */
  restartIceOnce(reason) {
    this.path.restartIceOnce(reason);
  }

  /** This side's network changed: restart now, whatever the role. */
  networkChanged(why) {
    this.path.networkChanged(why);
  }

  /** Signaling reaches the partner again: a restart that waited for it happens now. */
  signalingReady() {
    this.path.signalingReady();
  }

  /** Whether the working path is relayed through a TURN server at one of hosts. */
  relayedVia(hosts) {
    return this.path.relayedVia(hosts);
  }

  /**
   * Uses servers for every gathering from now on (the next ICE restart):
   * fresh TURN credentials, or the TURN servers of another server
   * instance. Reports whether they differ from the ones in use.
   */
  setIceServers(servers) {
    if (this.closed) return false;
    const cfg = this.pc.getConfiguration();
    if (sameServers(cfg.iceServers || [], servers)) return false;
    try {
      this.pc.setConfiguration({ ...cfg, iceServers: servers });
    } catch (err) {
      this._emit('negotiationError', { error: err });
      return false;
    }
    return true;
  }

  /** A DTLS transport closed by the partner means its connection is gone for good. */
  _watchTransports() {
    const seen = new Set();
    const ts = this.pc.getSenders().map((s) => s.transport);
    if (this.pc.sctp) ts.push(this.pc.sctp.transport);
    for (const t of ts) {
      if (!t || seen.has(t)) continue;
      seen.add(t);
      t.onstatechange = () => {
        if (!this.closed && (t.state === 'closed' || t.state === 'failed')) this._emit('ended', { dtls: t.state });
      };
    }
  }

  /**
   * The operation p, or nothing once the link closes. A peer connection
   * closed while an operation waits in its queue never settles that
   * operation's promise, and the call handles the partner's messages one
   * at a time: a candidate added as the partner hung up kept every message
   * after it — the stop that says why — from being handled.
   */
  _op(p) {
    return Promise.race([p, this._whenClosed]);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this._markClosed();
    this.path.stop();
    const ch = this.channel;
    if (ch) ch.close();
    this.pc.close();
    for (const t of this.remoteStream.getTracks()) this.remoteStream.removeTrack(t);
  }
}

function live(t) {
  return t.direction !== 'stopped' && t.currentDirection !== 'stopped';
}

async function addCandidate(link, c) {
  try {
    await link._op(link.pc.addIceCandidate(c));
  } catch {
    // A candidate for an m-line we rejected, from an older ICE generation,
    // or for an offer we ignored: harmless.
  }
}

function sameServers(a, b) {
  const norm = (list) => JSON.stringify(list.map((s) => [[].concat(s.urls || []), s.username || '', s.credential || '']));
  return norm(a) === norm(b);
}

/** The first a=ice-ufrag value of an SDP, or ''. */
function iceUfrag(sdp) {
  const m = /^a=ice-ufrag:(.*)$/m.exec(sdp || '');
  return m ? m[1].trim() : '';
}

/** The a=fingerprint value of an SDP, or ''. */
export function fingerprint(sdp) {
  const m = /^a=fingerprint:(.*)$/m.exec(sdp || '');
  return m ? m[1].trim().toLowerCase() : '';
}
