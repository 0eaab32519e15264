// duet.js's negotiation engine: one RTCPeerConnection with one partner, and
// the only place where an offer or an answer is made. Perfect negotiation
// (the polite side rolls back when offers cross), track changes mid-call,
// ICE restarts when the path breaks, and a watch on inbound packets that
// notices a dead path long before the browser's ICE state does. It knows
// nothing about sockets: descriptions and candidates go out through
// `signal` and come in through description() and candidate().

const WATCH_INTERVAL = 200; // ms between getStats polls of the path
const RESEND_OFFER = 3000; // an offer unanswered this long is sent again

/** Defaults of the engine's timing options (see DuetCallOptions). */
export const ENGINE_DEFAULTS = {
  iceRestartGrace: 1000, // 'disconnected' this long → ICE restart
  stallTimeout: 800, // media was arriving and nothing came for this long → ICE restart
  idleStallTimeout: 6000, // no media expected: no packet at all (not even ICE checks) for this long
  iceRestartInterval: 1000, // still broken after a restart: try again after this, doubling each time
  iceRestartMaxInterval: 8000, // … up to this
  peerTimeout: 30000, // broken this long, restarts and all: the partner is gone
};

export class PeerLink {
  /**
   * @param {object} o
   * @param {boolean} o.polite   the side that yields when offers cross
   * @param {RTCConfiguration} o.config
   * @param {(m: {type?: string, sdp?: string, candidate?: RTCIceCandidate}) => void} o.signal
   * @param {(name: string, detail: object) => void} o.emit
   * @param {object} o.timing   ENGINE_DEFAULTS, possibly changed
   */
  constructor(o) {
    this.polite = o.polite;
    this.timing = o.timing;
    this._signal = o.signal;
    this._emit = o.emit;
    this.pc = new RTCPeerConnection(o.config);
    this.channel = null;
    this.remoteStream = new MediaStream();
    this.connectedOnce = false;
    this.closed = false;
    this.counters = { offers: 0, answers: 0, collisions: 0, rollbacks: 0, ignoredOffers: 0, iceRestarts: 0 };
    this._makingOffer = false;
    this._ignoreOffer = false;
    this._answerPending = false;
    this._needTracks = null; // answerer: local tracks to add once the first offer is in
    this._needExtras = null;
    this._pending = []; // remote candidates that came before a remote description
    this._receiving = new Map(); // transceiver → is the partner sending on it
    this._extraStreams = new Map(); // transceiver → MediaStream for tracks beyond the first of a kind
    this._watch = {
      since: 0, // broken since (0: healthy)
      tries: 0, // restarts since it broke
      lastRestart: 0,
      offerAt: 0, // our offer waits for an answer since
      packets: -1, // inbound RTP packets at the last poll
      any: -1, // inbound packets of any kind, ICE checks included
      lastPacket: 0,
      lastAny: 0,
      media: false, // the partner's media was arriving
      timer: 0,
      grace: 0,
    };
    this._polling = false;
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
    pc.oniceconnectionstatechange = () => this._iceState();
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
      this._iceState();
    };
    this._watch.timer = setInterval(() => this._poll(), WATCH_INTERVAL);
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

  async _offer() {
    const pc = this.pc;
    if (this.closed || pc.signalingState !== 'stable') return; // fired again when stable
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

  /**
   * A description from the partner. Offers that cross ours are ignored by the
   * impolite side and win on the polite side (implicit rollback).
   */
  async description(desc) {
    const pc = this.pc;
    if (this.closed) return;
    if (desc.type === 'answer' && pc.signalingState !== 'have-local-offer') {
      return; // an answer to an offer we already had answered (sent twice across a reconnect)
    }
    const readyForOffer = !this._makingOffer && (pc.signalingState === 'stable' || this._answerPending);
    const collision = desc.type === 'offer' && !readyForOffer;
    if (collision) this.counters.collisions++;
    this._ignoreOffer = !this.polite && collision;
    if (this._ignoreOffer) {
      this.counters.ignoredOffers++;
      this._emit('negotiation', { event: 'ignoredOffer' });
      return;
    }
    this._answerPending = desc.type === 'answer';
    try {
      await pc.setRemoteDescription({ type: desc.type, sdp: desc.sdp });
    } finally {
      this._answerPending = false;
    }
    if (this.closed) return;
    if (collision) {
      this.counters.rollbacks++;
      this._emit('negotiation', { event: 'rollback' });
    }
    await this._flushCandidates();
    if (desc.type !== 'offer') return;
    if (this._needTracks !== null) {
      // addTrack takes the offer's transceiver of the same kind.
      const stream = this._needTracks;
      this._needTracks = null;
      if (stream) for (const t of stream.getTracks()) pc.addTrack(t, stream);
    }
    await pc.setLocalDescription();
    if (this.closed) return;
    this.counters.answers++;
    this._signal({ type: 'answer', sdp: pc.localDescription.sdp });
    const extras = this._needExtras;
    this._needExtras = null;
    if (extras) for (const [track, stream] of extras) this.addTrack(track, stream, false);
  }

  /** A trickled candidate from the partner. Stale ones (an old ICE generation, a rolled-back offer) are dropped. */
  async candidate(c) {
    if (this.closed) return;
    if (!this.pc.remoteDescription) {
      this._pending.push(c);
      return;
    }
    await addCandidate(this.pc, c);
  }

  async _flushCandidates() {
    const queued = this._pending;
    this._pending = [];
    for (const c of queued) await addCandidate(this.pc, c);
  }

  /**
   * Our offer is waiting for an answer that may have been lost with a
   * socket: send it again (an answered duplicate is harmless).
   */
  resendOffer() {
    const pc = this.pc;
    if (this.closed || pc.signalingState !== 'have-local-offer' || this._makingOffer) return false;
    this._signal({ type: 'offer', sdp: pc.localDescription.sdp });
    return true;
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
    if (![...this._receiving.values()].some(Boolean)) this._watch.media = false;
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

  // --- keeping the path up -------------------------------------------------

  get healthy() {
    const s = this.pc.iceConnectionState;
    return (s === 'connected' || s === 'completed') && !this._stalled();
  }

  /**
   * Restarts ICE: new candidates on whatever networks exist now, on the
   * same connection (media goes on over the old path while it still works).
   */
  restartIce(reason) {
    if (this.closed) return;
    this._watch.lastRestart = Date.now();
    this.counters.iceRestarts++;
    this._emit('iceRestart', { reason });
    this.pc.restartIce();
  }

  /** restartIce, unless one started less than iceRestartInterval ago (it is still under way). */
  restartIceOnce(reason) {
    if (Date.now() - this._watch.lastRestart >= this.timing.iceRestartInterval) this.restartIce(reason);
  }

  _iceState() {
    if (this.closed) return;
    const w = this._watch;
    const s = this.pc.iceConnectionState;
    clearTimeout(w.grace);
    if (s === 'failed') {
      this._trouble('failed');
    } else if (s === 'disconnected') {
      w.grace = setTimeout(() => {
        if (this.pc.iceConnectionState === 'disconnected') this._trouble('disconnected');
      }, this.timing.iceRestartGrace);
    } else if (this.healthy) {
      this._recovered();
    }
  }

  /**
   * The path is broken (or looks it): restart ICE now and tell the call,
   * which checks its socket; while it stays broken, again after 1, 2, 4 …
   * seconds. The second restart matters: the browser learns of a lost
   * network interface a second or two late, and candidates gathered before
   * that may be on the network that is gone.
   */
  _trouble(reason) {
    const w = this._watch;
    const now = Date.now();
    if (!w.since) w.since = now;
    if (w.tries > 0) {
      const wait = Math.min(this.timing.iceRestartInterval * 2 ** (w.tries - 1), this.timing.iceRestartMaxInterval);
      if (now - w.lastRestart < wait) return;
    } else if (now - w.lastRestart < this.timing.iceRestartInterval / 2) {
      return; // one just started (a network event, say)
    }
    w.tries++;
    this._emit('trouble', { reason, attempt: w.tries });
    if (this.connectedOnce || this.pc.remoteDescription) this.restartIce(reason);
  }

  _recovered() {
    const w = this._watch;
    if (!w.since) return;
    const gap = Date.now() - w.since;
    w.since = 0;
    w.tries = 0;
    this._emit('recovered', { after: gap });
  }

  _stalled() {
    const w = this._watch;
    const now = Date.now();
    if (w.media && now - w.lastPacket > this.timing.stallTimeout) return true;
    return w.lastAny > 0 && now - w.lastAny > this.timing.idleStallTimeout;
  }

  /**
   * Polls the inbound packet counters. Media arrives every few tens of ms,
   * so a second without a packet is a dead path, even while the browser
   * still says 'connected' (it takes it seconds to say otherwise, and
   * it never moves back to a network that returned).
   */
  async _poll() {
    if (this.closed || this._polling) return;
    const pc = this.pc;
    const ice = pc.iceConnectionState;
    const w = this._watch;
    const now = Date.now();
    // An offer without an answer for long: the answer (or the offer) was
    // lost with a socket. Sending it again is harmless.
    if (pc.signalingState !== 'have-local-offer') {
      w.offerAt = 0;
    } else if (!w.offerAt) {
      w.offerAt = now;
    } else if (now - w.offerAt > RESEND_OFFER) {
      w.offerAt = now;
      if (this.resendOffer()) this._emit('negotiation', { event: 'resentOffer' });
    }
    if (ice === 'new' || ice === 'checking') {
      if (this.connectedOnce) this._giveUpCheck(now);
      return;
    }
    this._polling = true;
    let packets = 0;
    let any = 0;
    try {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp') packets += r.packetsReceived || 0;
        if (r.type === 'transport') {
          any += r.packetsReceived || r.bytesReceived || 0;
          const pair = r.selectedCandidatePairId && stats.get(r.selectedCandidatePairId);
          if (pair) any += (pair.requestsReceived || 0) + (pair.responsesReceived || 0);
        }
      });
    } catch {
      return;
    } finally {
      this._polling = false;
    }
    if (this.closed) return;
    if (packets !== w.packets) {
      if (w.packets >= 0 && packets > w.packets) {
        w.media = true;
        w.lastPacket = now;
      }
      w.packets = packets;
    }
    if (any !== w.any) {
      w.any = any;
      w.lastAny = now;
    }
    if (this._stalled()) {
      this._trouble('stalled');
      this._giveUpCheck(now);
    } else if (ice === 'connected' || ice === 'completed') {
      this._recovered();
    } else {
      // disconnected or failed: the state handlers restart; retry while it lasts
      if (w.since) this._trouble(ice);
      this._giveUpCheck(now);
    }
  }

  _giveUpCheck(now) {
    const w = this._watch;
    if (!w.since) w.since = now;
    if (now - w.since > this.timing.peerTimeout) this._emit('failed', { after: now - w.since });
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

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this._watch.timer);
    clearTimeout(this._watch.grace);
    const ch = this.channel;
    if (ch) ch.close();
    this.pc.close();
    for (const t of this.remoteStream.getTracks()) this.remoteStream.removeTrack(t);
  }
}

function live(t) {
  return t.direction !== 'stopped' && t.currentDirection !== 'stopped';
}

async function addCandidate(pc, c) {
  try {
    await pc.addIceCandidate(c);
  } catch {
    // A candidate for an m-line we rejected, from an older ICE generation,
    // or for an offer we ignored: harmless.
  }
}

/** The a=fingerprint value of an SDP, or ''. */
export function fingerprint(sdp) {
  const m = /^a=fingerprint:(.*)$/m.exec(sdp || '');
  return m ? m[1].trim().toLowerCase() : '';
}
