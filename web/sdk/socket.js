// duet.js's signaling socket: one WebSocket at a time to the server,
// reopened with backoff when it is lost, with an application ping that
// finds a half-open socket the browser would wait minutes to notice.
// Losing it is routine; the call above it keeps its peer connection.

/** Reconnect attempts made at the short delay while the call needs the server (about 5 s of them). */
const URGENT_ATTEMPTS = 25;

export class SignalSocket {
  /**
   * @param {string} url
   * @param {{pingInterval: number, pongTimeout: number, minReconnectDelay: number, maxReconnectDelay: number}} opts
   * @param {{open: (gen: number) => void, message: (msg: object, gen: number) => void,
   *          losing?: (reason: string) => boolean,
   *          lost: (info: {attempt: number, delay: number, reason: string}) => void,
   *          error: (err: unknown) => void}} on
   */
  constructor(url, opts, on) {
    this.url = url;
    this.opts = opts;
    this.on = on;
    this.gen = 0; // which socket is current; handlers ignore older ones
    this.reopens = 0;
    this._ws = null;
    this._attempt = 0;
    this._timers = new Set();
    this._lastFrame = 0;
    this._probe = 0;
    this._pingAt = 0; // when the unanswered ping went out
    this._urgent = 0; // reconnect attempts left at the short delay
    this.rtt = 0; // smoothed ping round trip, ms
    this._stopped = false;
  }

  get isOpen() {
    return !!this._ws && this._ws.readyState === WebSocket.OPEN;
  }

  /** Opens the first socket. */
  start() {
    this._open();
  }

  /** Sends msg on the open socket; false when there is none. */
  send(msg) {
    if (!this.isOpen) return false;
    this._ws.send(JSON.stringify(msg));
    return true;
  }

  /** The server took us in: the next loss starts again from the shortest delay. */
  succeeded() {
    this._attempt = 0;
    this._urgent = 0;
  }

  /**
   * Checks the socket now: a ping that gets no frame back within timeout
   * means the socket is dead (its network went away); reopen at once.
   */
  probe(timeout) {
    if (this._stopped || this._probe) return;
    if (!this.isOpen) return; // already reconnecting
    // A live socket answers in a few round trips; a dead one never does.
    const wait = this.rtt ? Math.min(timeout, Math.max(250, 4 * this.rtt)) : timeout;
    const gen = this.gen;
    const sent = Date.now();
    this._ping();
    this._probe = this._later(() => {
      this._probe = 0;
      if (this.gen === gen && this._lastFrame < sent) this.drop('probe', 0);
    }, wait);
  }

  _ping() {
    if (this.send({ command: 'ping' }) && !this._pingAt) this._pingAt = Date.now();
  }

  /**
   * Drops the current socket and opens another after delay ms (backoff
   * with jitter when delay is undefined).
   */
  drop(reason, delay) {
    if (this._stopped) return;
    const ws = this._ws;
    this._ws = null;
    this.gen++;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      try { ws.close(); } catch { /* already closing */ }
    }
    const n = this._attempt++;
    // A call whose media needs the server back (its path is broken, or
    // relayed through a TURN server that went with it) retries at a short
    // delay for a while, still jittered, instead of backing off.
    if (this.on.losing && this.on.losing(reason)) this._urgent = this._urgent || URGENT_ATTEMPTS;
    if (delay === undefined) {
      const min = this.opts.minReconnectDelay;
      if (this._urgent > 0) {
        this._urgent--;
        delay = min / 5 + Math.random() * (min * 3 / 10);
      } else {
        const cap = Math.min(this.opts.maxReconnectDelay, min * 2 ** n);
        delay = cap / 2 + Math.random() * (cap / 2); // jitter spreads a drained server's clients
      }
    }
    this.on.lost({ attempt: n + 1, delay, reason });
    this._later(() => {
      if (!this._stopped) {
        this.reopens++;
        this._open();
      }
    }, delay);
  }

  /** Closes for good. */
  stop(code = 1000) {
    this._stopped = true;
    for (const id of this._timers) clearTimeout(id);
    this._timers.clear();
    const ws = this._ws;
    this._ws = null;
    this.gen++;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      try { ws.close(code); } catch { /* already closing */ }
    }
  }

  _open() {
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.on.error(err);
      return;
    }
    const gen = ++this.gen;
    this._ws = ws;
    this._pingAt = 0;
    ws.onopen = () => {
      if (this.gen !== gen) return;
      this._lastFrame = Date.now();
      this._startPing(gen);
      this.on.open(gen);
    };
    ws.onmessage = (ev) => {
      if (this.gen !== gen) return;
      this._lastFrame = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.command === 'pong' && this._pingAt) {
        const sample = this._lastFrame - this._pingAt;
        this._pingAt = 0;
        this.rtt = this.rtt ? Math.round(0.75 * this.rtt + 0.25 * sample) : sample;
      }
      this.on.message(msg, gen);
    };
    ws.onclose = () => {
      if (this.gen !== gen) return;
      this._ws = null;
      this.drop('closed');
    };
  }

  _startPing(gen) {
    const tick = () => {
      if (this.gen !== gen) return;
      if (Date.now() - this._lastFrame > this.opts.pongTimeout) {
        this.drop('timeout'); // half-open TCP
        return;
      }
      this._ping();
      this._later(tick, this.opts.pingInterval);
    };
    this._later(tick, this.opts.pingInterval);
  }

  _later(fn, ms) {
    const id = setTimeout(() => { this._timers.delete(id); fn(); }, ms);
    this._timers.add(id);
    return id;
  }
}
