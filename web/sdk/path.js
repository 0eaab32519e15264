// duet.js's watch on the media path of one peer connection (peer.js): it
// notices a dead path long before the browser's ICE state does, and
// restarts ICE on the same connection until the path works again or the
// partner is plainly gone.

const WATCH_INTERVAL = 200; // ms between getStats polls of the path
const RESEND_OFFER = 3000; // an offer unanswered this long is sent again
const INTERFACE_WATCH = 8000; // ms a broken path's interface is watched for
const INTERFACE_POLL = 250;

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

export class PathWatch {
  /** @param {import('./peer.js').PeerLink} link */
  constructor(link) {
    this.link = link;
    this.timing = link.timing;
    this.since = 0; // broken since (0: healthy)
    this.tries = 0; // restarts since it broke
    this.told = false; // the call was told (it checks its socket)
    this.lastRestart = 0;
    this.remoteRestartAt = 0; // the partner's last ICE restart offer
    this.localAddr = ''; // our address on the path while it worked
    this.offerAt = 0; // our offer waits for an answer since
    this.packets = -1; // inbound RTP packets at the last poll
    this.any = -1; // inbound packets of any kind, ICE checks included
    this.lastPacket = 0;
    this.lastAny = 0;
    this.media = false; // the partner's media was arriving
    this._polling = false;
    this._ifWatch = false;
    this._grace = 0;
    this._timer = setInterval(() => this._poll(), WATCH_INTERVAL);
  }

  stop() {
    clearInterval(this._timer);
    clearTimeout(this._grace);
  }

  get healthy() {
    const s = this.link.pc.iceConnectionState;
    return (s === 'connected' || s === 'completed') && !this._stalled();
  }

  /**
   * Restarts ICE: new candidates on whatever networks exist now, on the
   * same connection (media goes on over the old path while it still works).
   */
  restartIce(reason) {
    const link = this.link;
    if (link.closed) return;
    this.lastRestart = Date.now();
    link.counters.iceRestarts++;
    link._emit('iceRestart', { reason });
    link.pc.restartIce();
  }

  /** restartIce, unless one started less than iceRestartInterval ago (it is still under way). */
  restartIceOnce(reason) {
    if (Date.now() - this.lastRestart >= this.timing.iceRestartInterval) this.restartIce(reason);
  }

  /** This side's network changed: its candidates may be gone. Restart now, whatever the role. */
  networkChanged(why) {
    if (this.link.closed || !this.link.connectedOnce) return;
    this._trouble('network');
    this.restartIce(why);
  }

  /** The partner's offer restarted ICE. */
  remoteRestarted() {
    this.remoteRestartAt = Date.now();
  }

  /** No transceiver receives the partner's media any more: silence is not a broken path. */
  noMediaExpected() {
    this.media = false;
  }

  iceStateChanged() {
    if (this.link.closed) return;
    const s = this.link.pc.iceConnectionState;
    clearTimeout(this._grace);
    if (s === 'failed') {
      this._trouble('failed');
    } else if (s === 'disconnected') {
      this._grace = setTimeout(() => {
        if (this.link.pc.iceConnectionState === 'disconnected') this._trouble('disconnected');
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
    const link = this.link;
    const now = Date.now();
    if (!this.since) this.since = now;
    if (!this.told) {
      this.told = true;
      link._emit('trouble', { reason });
      if (reason === 'stalled' || reason === 'disconnected' || reason === 'failed') this._watchInterfaces();
    }
    if (link.polite && reason !== 'network') {
      if (now - this.since < this.timing.politeRestartDelay) return;
      if (now - this.remoteRestartAt < this.timing.iceRestartMaxInterval) return;
    }
    if (this.tries > 0) {
      const wait = Math.min(this.timing.iceRestartInterval * 2 ** (this.tries - 1), this.timing.iceRestartMaxInterval);
      if (now - this.lastRestart < wait) return;
    } else if (now - this.lastRestart < this.timing.iceRestartInterval / 2) {
      return; // one just started (a network event, say)
    }
    this.tries++;
    if (link.connectedOnce || link.pc.remoteDescription) this.restartIce(reason);
  }

  _recovered() {
    if (!this.since) return;
    const gap = Date.now() - this.since;
    this.since = 0;
    this.tries = 0;
    this.told = false;
    this.link._emit('recovered', { after: gap });
  }

  _stalled() {
    const now = Date.now();
    if (this.media && now - this.lastPacket > this.timing.stallTimeout) return true;
    return this.lastAny > 0 && now - this.lastAny > this.timing.idleStallTimeout;
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
    const dead = this.localAddr;
    if (this._ifWatch || !dead) return;
    this._ifWatch = true;
    try {
      const until = Date.now() + INTERFACE_WATCH;
      while (!this.link.closed && this.since && Date.now() < until) {
        const addrs = await hostAddresses();
        if (this.link.closed || !this.since) return;
        if (addrs.size > 0 && !addrs.has(dead)) {
          this.networkChanged('interfaceGone');
          return;
        }
        await new Promise((r) => setTimeout(r, INTERFACE_POLL));
      }
    } finally {
      this._ifWatch = false;
    }
  }

  /**
   * Polls the inbound packet counters. Media arrives every few tens of ms,
   * so most of a second without a packet is a dead path, even while the
   * browser still says 'connected' (it takes it seconds to say otherwise,
   * and it never moves back to a network that returned).
   */
  async _poll() {
    const link = this.link;
    if (link.closed || this._polling) return;
    const pc = link.pc;
    const ice = pc.iceConnectionState;
    const now = Date.now();
    // An offer without an answer for long: the answer (or the offer) was
    // lost with a socket. Sending it again is harmless.
    if (!link.offering) {
      this.offerAt = 0;
    } else if (!this.offerAt) {
      this.offerAt = now;
    } else if (now - this.offerAt > RESEND_OFFER) {
      this.offerAt = now;
      if (link.resendOffer()) link._emit('negotiation', { event: 'resentOffer' });
    }
    if (ice === 'new' || ice === 'checking') {
      if (link.connectedOnce) this._giveUpCheck(now);
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
    if (link.closed) return;
    if (packets !== this.packets) {
      if (this.packets >= 0 && packets > this.packets) {
        this.media = true;
        this.lastPacket = now;
      }
      this.packets = packets;
    }
    if (any !== this.any) {
      this.any = any;
      this.lastAny = now;
    }
    const stalled = this._stalled();
    if (localAddr && !stalled) this.localAddr = localAddr; // the address of the path that works
    if (stalled) {
      this._trouble('stalled');
      this._giveUpCheck(now);
    } else if (ice === 'connected' || ice === 'completed') {
      this._recovered();
    } else {
      // disconnected or failed: the state handlers restart; retry while it lasts
      if (this.since) this._trouble(ice);
      this._giveUpCheck(now);
    }
  }

  _giveUpCheck(now) {
    if (!this.since) this.since = now;
    if (now - this.since > this.timing.peerTimeout) this.link._emit('failed', { after: now - this.since });
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
