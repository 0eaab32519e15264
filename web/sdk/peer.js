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
  politeRestartDelay: 2500, // the polite side restarts only if the impolite one did not within this
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
    this._watch = {
      since: 0, // broken since (0: healthy)
      tries: 0, // restarts since it broke
      told: false, // the call was told (it checks its socket)
      remoteRestartAt: 0, // the partner's last ICE restart offer
      localAddr: '', // our address on the path while it worked
      ifWatch: false, // _watchInterfaces is running
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
    if (pc.remoteDescription && iceUfrag(desc.sdp) !== iceUfrag(pc.remoteDescription.sdp)) this._watch.remoteRestartAt = Date.now();
    await pc.setRemoteDescription({ type: 'offer', sdp: desc.sdp });
    if (this.closed) return;
    await this._flushCandidates();
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
    if (this._again) this._offerAgain();
  }

  async _answered(desc) {
    const pc = this.pc;
    if (this.polite) {
      const offer = this._offerOut;
      if (!offer || pc.signalingState !== 'stable') return; // withdrawn, or answered twice across a reconnect
      this._offerOut = null;
      await pc.setLocalDescription(offer);
      if (this.closed) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: desc.sdp });
    } else {
      if (pc.signalingState !== 'have-local-offer') return; // answered twice across a reconnect
      this._answerPending = true;
      try {
        await pc.setRemoteDescription({ type: 'answer', sdp: desc.sdp });
      } finally {
        this._answerPending = false;
      }
    }
    if (this.closed) return;
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

  /** This side's network changed: its candidates may be gone. Restart now, whatever the role. */
  networkChanged(why) {
    if (this.closed || !this.connectedOnce) return;
    this._trouble('network');
    this.restartIce(why);
  }

  /**
   * While the path is broken: has the network interface it used gone
   * away? The browser learns of that a second or two late, and a restart
   * before then gathers candidates on the vanished interface. A throwaway
   * connection's host candidates, every 250 ms, tell the moment the
   * browser knows; the restart that follows finds the networks that are
   * left. (With mDNS-hidden addresses this finds nothing and the timed
   * restarts carry on alone.)
   */
  async _watchInterfaces() {
    const w = this._watch;
    const dead = w.localAddr;
    if (w.ifWatch || !dead) return;
    w.ifWatch = true;
    try {
      const until = Date.now() + 8000;
      while (!this.closed && w.since && Date.now() < until) {
        const addrs = await hostAddresses();
        if (this.closed || !w.since) return;
        if (addrs.size > 0 && !addrs.has(dead)) {
          this.networkChanged('interfaceGone');
          return;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      w.ifWatch = false;
    }
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
   * The path is broken (or looks it): restart ICE and tell the call, which
   * checks its socket (it may have gone with the same network). While it
   * stays broken, again after 1, 2, 4 … seconds: the later restarts matter,
   * since the browser learns of a lost network interface a second or two
   * late, and a restart before that gathers on the network that is gone.
   * The impolite side restarts at once; the polite side leaves it to the
   * impolite one (whose path broke too: crossed restarts only cost round
   * trips) and restarts itself only when none came within
   * politeRestartDelay, say when only its own direction broke.
   */
  _trouble(reason) {
    const w = this._watch;
    const now = Date.now();
    if (!w.since) w.since = now;
    if (!w.told) {
      w.told = true;
      this._emit('trouble', { reason });
      if (reason === 'stalled' || reason === 'disconnected' || reason === 'failed') this._watchInterfaces();
    }
    if (this.polite && reason !== 'network') {
      if (now - w.since < this.timing.politeRestartDelay) return;
      if (now - w.remoteRestartAt < this.timing.iceRestartMaxInterval) return;
    }
    if (w.tries > 0) {
      const wait = Math.min(this.timing.iceRestartInterval * 2 ** (w.tries - 1), this.timing.iceRestartMaxInterval);
      if (now - w.lastRestart < wait) return;
    } else if (now - w.lastRestart < this.timing.iceRestartInterval / 2) {
      return; // one just started (a network event, say)
    }
    w.tries++;
    if (this.connectedOnce || this.pc.remoteDescription) this.restartIce(reason);
  }

  _recovered() {
    const w = this._watch;
    if (!w.since) return;
    const gap = Date.now() - w.since;
    w.since = 0;
    w.tries = 0;
    w.told = false;
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
    if (!this.offering) {
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
    let localAddr = '';
    try {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp') packets += r.packetsReceived || 0;
        if (r.type === 'transport') {
          any += r.packetsReceived || r.bytesReceived || 0;
          const pair = r.selectedCandidatePairId && stats.get(r.selectedCandidatePairId);
          if (pair) any += (pair.requestsReceived || 0) + (pair.responsesReceived || 0);
          const local = pair && stats.get(pair.localCandidateId);
          if (local) localAddr = local.address || local.ip || '';
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
    if (localAddr && !this._stalled()) w.localAddr = localAddr; // the address of the path that works
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

/** The host addresses the browser would gather on now (a throwaway connection's candidates). */
async function hostAddresses() {
  const addrs = new Set();
  const pc = new RTCPeerConnection();
  try {
    pc.createDataChannel('probe');
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 1000);
      pc.onicecandidate = (e) => {
        if (!e.candidate || !e.candidate.candidate) {
          clearTimeout(timer);
          resolve();
          return;
        }
        const a = e.candidate.address || e.candidate.candidate.split(' ')[4];
        if (a) addrs.add(a);
      };
      pc.setLocalDescription().catch(resolve);
    });
  } finally {
    pc.close();
  }
  return addrs;
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
