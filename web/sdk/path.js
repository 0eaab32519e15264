// duet.js's watch on the media path of one peer connection (peer.js): it
// notices a dead path long before the browser's ICE state does, and
// restarts ICE on the same connection until the path works again or the
// partner is plainly gone.

const WATCH_INTERVAL = 100; // ms between getStats polls of the path
const QUIET_WINDOW = 5000; // ms of healthy path over which its longest silence is remembered
const QUIET_FACTOR = 3; // a silence this many times the longest healthy one is a stall
const BROKEN = new Set(['stalled', 'disconnected', 'failed']); // restart reasons a working path makes moot
const RESEND_OFFER = 3000; // an offer unanswered this long is sent again
const INTERFACE_WATCH = 8000; // ms a broken path's interface is watched for
const INTERFACE_POLL = 250;
const SETTLED = 10000; // ms a path must work before its next break restarts at once again

/** Defaults of the engine's timing options (see DuetCallOptions). */
export const ENGINE_DEFAULTS = {
  iceRestartGrace: 1000, // 'disconnected' this long → ICE restart
  stallTimeout: 400, // packets were arriving steadily and nothing came for this long → ICE restart
  idleStallTimeout: 6000, // no media expected: no packet at all (not even ICE checks) for this long
  iceRestartInterval: 1000, // still broken after a restart: try again after this, doubling each time
  iceRestartMaxInterval: 8000, // … up to this
  politeRestartDelay: 1500, // the polite side restarts only if the impolite one did not within this
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
    this.checksAt = 0; // when the newest ICE generation's checks could begin: its offer answered
    this.recoveredAt = 0; // when the path last worked again after a break
    this.remoteRestartAt = 0; // the partner's last ICE restart offer
    this.deferred = ''; // a restart wanted while signaling was down: why
    this.localAddr = ''; // our address on the path while it worked
    this.pair = null; // the selected candidate pair while it worked: {local, remote}
    this.offerAt = 0; // our offer waits for an answer since
    this.packets = -1; // inbound RTP packets at the last poll
    this.any = -1; // inbound packets and bytes of any kind, ICE checks included
    this.lastPacket = 0;
    this.lastAny = 0;
    this.prevPoll = 0; // when the last getStats poll was read
    this.silences = []; // [at, ms]: the silences between inbound packets while the path worked
    this.media = false; // the partner's media was arriving
    this._polling = false;
    this._healthy = false; // what the call was last told of healthy
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
   * Whether the selected pair goes through a TURN relay at one of hosts
   * (addresses or names): our relayed candidate, or the partner's.
   */
  relayedVia(hosts) {
    const p = this.pair;
    if (!p) return false;
    for (const c of [p.local, p.remote]) {
      if (c.type !== 'relay') continue;
      if (hosts.has(c.address) || (c.url && hosts.has(urlHost(c.url)))) return true;
    }
    return false;
  }

  /** Whether the selected pair uses a TURN relay at all. */
  get relayed() {
    return !!this.pair && (this.pair.local.type === 'relay' || this.pair.remote.type === 'relay');
  }

  /**
   * Restarts ICE: new candidates on whatever networks exist now, on the
   * same connection (media goes on over the old path while it still works).
   */
  restartIce(reason) {
    const link = this.link;
    if (link.closed) return;
    if (!link.canSignal()) {
      // The offer could reach nobody, and the ICE servers we know may be
      // stale (a restarted server mints other TURN credentials, its TURN
      // may be elsewhere): restart once the server has us back and its
      // answer to getIceServerConfig is applied.
      this.deferred = this.deferred || reason;
      return;
    }
    this.deferred = '';
    this.lastRestart = Date.now();
    link.counters.iceRestarts++;
    link._emit('iceRestart', { reason });
    link.pc.restartIce();
  }

  /**
   * Signaling is back (and the ICE servers fresh): a restart wanted
   * meanwhile happens now, unless it was for a broken path that works
   * again.
   */
  signalingReady() {
    if (!this.deferred || this.link.closed) return;
    const why = this.deferred;
    this.deferred = '';
    if (BROKEN.has(why) && this.healthy) return;
    this.restartIce(why);
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

  /**
   * An offer and its answer are both applied: a restart's checks begin
   * now, however long the answer took (a lost socket, a starved partner).
   */
  checksStarted() {
    this.checksAt = Date.now();
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
    this._tellHealth();
  }

  /**
   * healthy also turns on the time since the last packet, so it changes
   * without an event of its own: a stall seen, or packets back after ICE
   * said connected while the last ones were still old. The call's state
   * follows it only when told (it stayed 'reconnecting' on a working
   * call, the recovery having been told a moment too early).
   */
  _tellHealth() {
    const h = this.healthy;
    if (h === this._healthy || this.link.closed) return;
    this._healthy = h;
    this.link._emit('health', { healthy: h });
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
    if (!this.since) {
      this.since = now;
      // A path that broke again soon after it recovered keeps its backoff:
      // on a starved machine a stall can be the CPU's, not the network's,
      // and restarting at once each time fed the pauses it was meant to end.
      if (now - this.recoveredAt > SETTLED) this.tries = 0;
    }
    if (!this.told) {
      this.told = true;
      link._emit('trouble', { reason });
      if (reason === 'stalled' || reason === 'disconnected' || reason === 'failed') this._watchInterfaces();
    }
    if (link.polite && reason !== 'network') {
      if (now - this.since < this.timing.politeRestartDelay) return;
      if (now - this.remoteRestartAt < this.timing.iceRestartMaxInterval) return;
    }
    // A restart whose offer still waits for its answer is not given up
    // (the offer is sent again if it was lost), and one that was answered
    // gets its time from the answer on: restarting 10 ms after an answer
    // that took 800 ms threw away the checks that were about to work.
    if (this.tries > 0 && link.offering) return;
    const from = Math.max(this.lastRestart, this.checksAt);
    if (this.tries > 0) {
      const wait = Math.min(this.timing.iceRestartInterval * 2 ** (this.tries - 1), this.timing.iceRestartMaxInterval);
      if (now - from < wait) return;
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
    this.recoveredAt = Date.now(); // tries are forgotten once it has worked for SETTLED
    this.told = false;
    this.link._emit('recovered', { after: gap });
  }

  /**
   * No inbound packet for longer than this path's silences while it
   * worked allow. A call whose packets arrive every few tens of ms (media
   * either way: RTP, or the partner's RTCP feedback on ours) is stalled
   * after stallTimeout; a quiet one (no media, a muted camera) only after
   * QUIET_FACTOR times its longest healthy silence, so it is not restarted
   * for being quiet.
   */
  _stalled() {
    return this.lastAny > 0 && Date.now() - this.lastAny > this._limit();
  }

  _limit() {
    const now = Date.now();
    while (this.silences.length && now - this.silences[0][0] > QUIET_WINDOW) this.silences.shift();
    const floor = this.media ? this.timing.stallTimeout : this.timing.idleStallTimeout;
    if (!this.media && !this.silences.length) return floor;
    let longest = 0;
    for (const [, ms] of this.silences) longest = Math.max(longest, ms);
    return Math.min(Math.max(floor, QUIET_FACTOR * longest), Math.max(floor, this.timing.idleStallTimeout));
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
        const addrs = await hostAddresses(dead);
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
    if (pc.signalingState === 'closed') {
      // Closed under us (by the page, or the browser): nothing can restore it.
      link._emit('ended', { pc: 'closed' });
      return;
    }
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
      if (!link.connectedOnce) return;
      // Checking again after it worked: no pair carries anything (the
      // browser says 'checking' only then), as when a restart's checks go
      // to a relay that died after the restart began. Nothing else would
      // restart it again before peerTimeout gives the connection up.
      if (this.since && now - this.since >= this.timing.iceRestartGrace) this._trouble(ice);
      this._giveUpCheck(now);
      this._tellHealth();
      return;
    }
    this._polling = true;
    let s;
    try {
      s = readStats(await pc.getStats());
    } catch {
      return;
    } finally {
      this._polling = false;
    }
    if (link.closed) return;
    const at = Date.now();
    if (s.packets !== this.packets) {
      if (this.packets >= 0 && s.packets > this.packets) {
        this.media = true;
        this.lastPacket = at;
      }
      this.packets = s.packets;
    }
    if (s.any !== this.any) {
      if (this.any >= 0 && this.lastAny > 0 && !this.since) {
        // Nothing arrived between the poll that last saw a packet and the
        // previous one: a silence that long at least. The time since that
        // previous poll says nothing (packets may have come at any point in
        // it), and on a starved page it is long: counting it made the
        // limit of a busy path seconds long under load.
        const gap = this.prevPoll - this.lastAny;
        if (gap > 0 && gap <= this._limit()) this.silences.push([at, gap]);
      }
      this.any = s.any;
      this.lastAny = at;
    }
    this.prevPoll = at;
    const stalled = this._stalled();
    if (!stalled && s.pair) {
      // The path that works: its address, and whether it is relayed.
      this.pair = s.pair;
      if (s.pair.local.address) this.localAddr = s.pair.local.address;
    }
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
    this._tellHealth();
  }

  _giveUpCheck(now) {
    if (!this.since) this.since = now;
    if (now - this.since > this.timing.peerTimeout) this.link._emit('failed', { after: now - this.since });
  }
}

/**
 * What a getStats report says of the path: inbound RTP packets, a counter
 * of everything that arrived (packets and bytes on the transport, the
 * selected pair's bytes and ICE checks), and the selected pair. Chromium
 * names the pair in its transport report; Firefox marks it `selected`.
 */
function readStats(stats) {
  let packets = 0;
  let any = 0;
  let pair = null;
  const pairs = [];
  stats.forEach((r) => {
    if (r.type === 'inbound-rtp') packets += r.packetsReceived || 0;
    if (r.type === 'transport') {
      any += (r.packetsReceived || 0) + (r.bytesReceived || 0);
      const p = r.selectedCandidatePairId && stats.get(r.selectedCandidatePairId);
      if (p) pairs.push(p);
    }
  });
  if (!pairs.length) {
    stats.forEach((r) => {
      if (r.type === 'candidate-pair' && (r.selected || (r.nominated && r.state === 'succeeded' && !pairs.length))) pairs.push(r);
    });
  }
  for (const p of pairs) {
    any += (p.bytesReceived || 0) + (p.requestsReceived || 0) + (p.responsesReceived || 0);
    const l = stats.get(p.localCandidateId);
    const r = stats.get(p.remoteCandidateId);
    if (!pair && l && r) pair = { local: candidate(l), remote: candidate(r) };
  }
  return { packets, any: any + packets, pair };
}

function candidate(c) {
  return {
    type: c.candidateType || '',
    address: c.address || c.ip || '',
    protocol: c.protocol || '',
    relayProtocol: c.relayProtocol || '',
    url: c.url || '',
  };
}

/** The host of a stun:/turn: URL (or of a ws: URL), without brackets. */
export function urlHost(url) {
  const m = /^[a-z]+:(?:\/\/)?(\[[^\]]+\]|[^:/?]+)/i.exec(url || '');
  return m ? m[1].replace(/^\[|\]$/g, '').toLowerCase() : '';
}

/**
 * The host addresses the browser would gather on now (a throwaway
 * connection's candidates). Once want shows up, the rest does not matter:
 * gathering to its end takes most of a second on a busy machine, and the
 * interface watch asks every 250 ms.
 */
async function hostAddresses(want) {
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
        if (a && a === want) {
          clearTimeout(timer);
          resolve();
        }
      };
      pc.setLocalDescription().catch(resolve);
    });
  } finally {
    pc.close();
  }
  return addrs;
}
