package server

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/ws"
	"github.com/duet-rtc/duet/protocol"
)

// closeGrace bounds the closing handshake: after our close frame, the peer
// has this long to answer before the socket is dropped.
const closeGrace = 2 * time.Second

// clockEvery bounds how many messages of one burst share a clock reading.
const clockEvery = 64

// lingerIdle is how long a socket's reader keeps its goroutine after work
// before it moves to a fresh one with a small stack (see read).
const lingerIdle = time.Second

// wake runs when a lingering reader gets bytes: its deadline was only for
// waiting.
func (c *conn) wake() {
	if c.lingering.Load() {
		c.lingering.Store(false)
		c.endLinger()
	}
}

// endLinger clears the linger deadline and reports true, unless the socket
// is closing: then the close handshake's deadline is set instead (the
// writer may not have set it yet) and it reports false.
func (c *conn) endLinger() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		c.nc.SetReadDeadline(time.Now().Add(closeGrace))
		return false
	}
	c.nc.SetReadDeadline(time.Time{})
	return true
}

// conn is one WebSocket client. Its reader goroutine lives as long as the
// socket (moving to a fresh stack when the client goes quiet) and, while
// the client is quiet, sits in a read holding no buffer;
// a writer goroutine runs only while frames are queued. So an idle socket
// costs one small goroutine stack and this struct.
type conn struct {
	srv    *Server
	nc     net.Conn
	rd     *ws.Reader
	app    string
	id     uint64
	remote string     // client address for logs: the direct peer, or X-Forwarded-For from a trusted proxy
	addr   netip.Addr // client address for max_connections_per_ip
	// urlToken is the token query parameter of the WebSocket URL.
	urlToken string

	mu        sync.Mutex
	out       *[]byte       // framed bytes waiting for the writer; pooled, nil when empty
	queued    int           // payload bytes in out
	outClose  bool          // out ends with our close frame
	writing   bool          // a writer goroutine is running
	closing   bool          // no more frames accepted; a close frame may be queued
	closeSent chan struct{} // made with the close frame; closed once it is written or cannot be
	gone      bool          // the reader has ended and the socket is closed
	probeCh   chan struct{}
	pingTimer *time.Timer

	lastHeard atomic.Int64 // unix nanoseconds of the last frame from the peer
	probing   atomic.Bool  // a probe waits on probeCh
	busy      atomic.Bool  // the reader is inside a blocking room call
	lingering atomic.Bool  // the reader waits with the linger deadline set

	ended atomic.Uint32 // why the socket ended, as a hub.Reason; 0 is ReasonClosed (see leaveReason)

	// Owned by the reader goroutine.
	rooms   []string
	tokens  float64
	last    time.Time
	limited int
	invalid int
}

// outPool holds send buffers: a socket borrows one while it has frames to
// write and gives it back when its writer ends, so idle sockets hold none.
var outPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledOut is the largest send buffer put back in the pool; bigger
// ones (a burst of large SDPs) are left to the collector.
const maxPooledOut = 64 << 10

func getOut() *[]byte { return outPool.Get().(*[]byte) }

func putOut(b *[]byte) {
	if b != nil && cap(*b) <= maxPooledOut {
		*b = (*b)[:0]
		outPool.Put(b)
	}
}

var _ hub.Conn = (*conn)(nil)

func newConn(s *Server, nc net.Conn, early []byte, app, remote string) *conn {
	c := &conn{srv: s, nc: nc, app: app, remote: remote, id: s.nextID.Add(1)}
	c.rd = ws.NewReader(nc, early, s.cfg.MaxMessageBytes)
	c.rd.Woken = c.wake
	c.lastHeard.Store(time.Now().UnixNano())
	c.mu.Lock() // the timer may fire before this function returns
	c.pingTimer = time.AfterFunc(jitter(s.cfg.PingInterval), c.ping)
	c.mu.Unlock()
	return c
}

// readLoop reads frames until the socket ends, then cleans up. Handling a
// message grows the goroutine's stack (JSON decoding, room calls), and an
// idle socket would keep that stack for as long as it stays quiet; so once
// the next read would block with nothing buffered, the loop moves to a
// fresh goroutine, whose stack starts small, and this one ends: at once
// after a join, leave or ping, and after lingerIdle of quiet for a socket
// that relays (see read).
func (c *conn) readLoop() {
	if c.read() {
		go c.readLoop()
		return
	}
	c.cleanup()
}

// read runs the loop; it returns true to be continued on a new goroutine
// and false when the socket is finished.
func (c *conn) read() (moveOn bool) {
	worked := false  // handled a message since the last wait
	relayed := false // of which a relay: the socket is in a negotiation or a data stream
	// The clock is read once per wake-up and every clockEvery messages of
	// a long burst, not per message: on some virtual machines a clock read
	// costs as much as decoding a candidate.
	now := time.Now()
	sinceClock := 0
	for {
		if worked && c.rd.Idle() {
			if !relayed {
				// A join, leave or ping: the socket is likely to go quiet
				// now, so its reader moves to a small stack at once.
				return true
			}
			// A relaying socket keeps this goroutine, its stack already
			// grown, and moves on only after it has been quiet for
			// lingerIdle (the read deadline below). Moving after every
			// burst made each one regrow a stack and added to the tail
			// latency of busy sockets.
			c.lingering.Store(true)
			c.nc.SetReadDeadline(now.Add(c.srv.linger))
			worked, relayed = false, false
		}
		waited := c.rd.Idle()
		op, p, err := c.rd.Next()
		if err != nil && c.lingering.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
			// Quiet for lingerIdle: continue on a fresh, small stack.
			c.lingering.Store(false)
			if c.endLinger() {
				return true
			}
			continue // closing: the close handshake's deadline now applies
		}
		if err != nil {
			if code := ws.CloseCode(err); code != 0 {
				if code == ws.CloseTooBig {
					c.sendError(protocol.ErrMessageTooLarge, "")
				}
				c.closeWith(code, err.(*ws.CloseError).Reason)
				c.awaitClose(code == ws.CloseTooBig && c.rd.SkipFrame() == nil)
			}
			return false
		}
		if sinceClock++; waited || sinceClock >= clockEvery {
			now, sinceClock = time.Now(), 0
			c.lastHeard.Store(now.UnixNano())
		}
		c.heard()
		switch op {
		case ws.OpPing:
			c.enqueue(ws.OpPong, append([]byte(nil), p...))
		case ws.OpPong:
		case ws.OpClose:
			code, _, err := ws.ParseClose(p)
			switch {
			case err != nil:
				c.closeWith(ws.CloseProtocolError, "invalid close frame")
			case code == ws.CloseNoStatus:
				c.closeWith(ws.CloseNormal, "")
			default:
				c.closeWith(code, "")
			}
			// The handshake is complete once our close frame is out; then
			// the server closes the TCP connection first (RFC 6455 7.1.1).
			c.waitCloseSent()
			return false
		case ws.OpBinary:
			c.closeWith(ws.CloseUnsupported, "binary frames are not supported")
			c.awaitClose(true)
			return false
		case ws.OpText:
			if !c.isClosing() {
				relayed = c.handle(p, now) || relayed
				worked = true
			}
		}
	}
}

// awaitClose finishes a close we started: once our close frame is out,
// it reads until the peer answers with its own (inSync: the frame stream
// can still be parsed) or, if it cannot parse, until the peer closes, for
// at most closeGrace. Reading on keeps our last frames from being lost to
// a reset caused by unread data.
func (c *conn) awaitClose(inSync bool) {
	c.waitCloseSent()
	c.nc.SetReadDeadline(time.Now().Add(closeGrace))
	if !inSync {
		io.Copy(io.Discard, c.nc)
		return
	}
	for {
		op, _, err := c.rd.Next()
		if err != nil || op == ws.OpClose {
			return
		}
	}
}

// waitCloseSent waits until the writer has sent the close frame or given up.
func (c *conn) waitCloseSent() {
	c.mu.Lock()
	ch := c.closeSent
	c.mu.Unlock()
	if ch == nil {
		return
	}
	t := time.NewTimer(c.srv.cfg.WriteTimeout + time.Second)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// heard releases a probe waiting for any sign of life.
func (c *conn) heard() {
	if c.probing.Load() {
		c.mu.Lock()
		if c.probeCh != nil {
			close(c.probeCh)
			c.probeCh = nil
		}
		c.probing.Store(false)
		c.mu.Unlock()
	}
}

// ping runs on a timer: it drops a socket silent for the idle timeout and
// otherwise sends a WebSocket ping.
func (c *conn) ping() {
	idle := time.Since(time.Unix(0, c.lastHeard.Load()))
	if idle > c.srv.cfg.IdleTimeout {
		c.ended.Store(uint32(hub.ReasonTimeout))
		c.Kill("idle timeout")
		return
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.pingTimer.Reset(jitter(c.srv.cfg.PingInterval))
	c.mu.Unlock()
	c.enqueue(ws.OpPing, nil)
}

// jitter spreads d by ±10% so pings of sockets opened together spread out.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// Send implements hub.Conn. It copies frame.
func (c *conn) Send(frame []byte) bool { return c.enqueue(ws.OpText, frame) }

// enqueue frames a copy of p for the writer. A frame that would push the
// queue past send_queue_bytes drops the connection: a reader that slow
// cannot follow a negotiation anyway, and nobody else may wait for it.
func (c *conn) enqueue(op ws.Opcode, p []byte) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if c.queued+len(p) > c.srv.cfg.SendQueueBytes {
		c.closing, c.queued = true, 0
		c.dropOutLocked()
		c.mu.Unlock()
		c.srv.metrics.SlowDropped.Inc()
		c.srv.log.Warn("dropping slow client", "conn", c.id, "remote", c.remote, "queue_bytes", c.srv.cfg.SendQueueBytes)
		c.nc.Close()
		return false
	}
	c.appendLocked(op, p)
	c.queued += len(p)
	c.startWriterLocked()
	c.mu.Unlock()
	return true
}

// appendLocked frames p onto the send buffer. The caller holds c.mu.
func (c *conn) appendLocked(op ws.Opcode, p []byte) {
	if c.out == nil {
		c.out = getOut()
	}
	b := ws.AppendHeader(*c.out, op, len(p))
	*c.out = append(b, p...)
}

// dropOutLocked discards what is queued. The caller holds c.mu.
func (c *conn) dropOutLocked() {
	putOut(c.out)
	c.out, c.outClose = nil, false
}

// startWriterLocked starts the writer if none runs. The caller holds c.mu
// and the socket is not gone, so the reader still holds the server's
// WaitGroup above zero.
func (c *conn) startWriterLocked() {
	if !c.writing && !c.gone {
		c.writing = true
		c.srv.wg.Add(1)
		go c.writeLoop()
	}
}

// writeLoop sends everything queued, one write per batch, and exits when
// the queue is empty. It swaps the queued buffer for an empty one, so
// senders append to one while the other is written.
func (c *conn) writeLoop() {
	defer c.srv.wg.Done()
	var spare *[]byte
	for {
		c.mu.Lock()
		if c.out == nil || len(*c.out) == 0 || c.gone {
			c.writing = false
			c.dropOutLocked()
			c.markCloseSentLocked()
			c.mu.Unlock()
			putOut(spare)
			return
		}
		batch, sentClose := c.out, c.outClose
		c.out, c.outClose, c.queued = spare, false, 0
		c.mu.Unlock()

		c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		_, err := c.nc.Write(*batch)
		if cap(*batch) > maxPooledOut {
			batch = nil // let a burst's big buffer go
		} else {
			*batch = (*batch)[:0]
		}
		spare = batch
		if err != nil {
			c.mu.Lock()
			c.writing, c.queued = false, 0
			c.dropOutLocked()
			c.markCloseSentLocked()
			gone := c.gone
			c.mu.Unlock()
			putOut(spare)
			if !gone {
				c.Kill("write failed: " + err.Error())
			}
			return
		}
		if sentClose {
			// The reader may be blocked in a read: make sure it ends if the
			// peer never answers our close.
			c.nc.SetReadDeadline(time.Now().Add(closeGrace))
			c.mu.Lock()
			c.markCloseSentLocked()
			c.mu.Unlock()
		}
	}
}

// closeWith queues a close frame with code and reason after what is
// already queued; nothing is sent after it.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.srv.log.Debug("closing connection", "conn", c.id, "remote", c.remote, "code", code, "reason", reason)
	c.appendLocked(ws.OpClose, ws.ClosePayload(code, reason))
	c.outClose = true
	c.closing = true
	c.closeSent = make(chan struct{})
	c.startWriterLocked()
}

// markCloseSentLocked releases waitCloseSent. The caller holds c.mu.
func (c *conn) markCloseSentLocked() {
	if c.closeSent != nil {
		select {
		case <-c.closeSent:
		default:
			close(c.closeSent)
		}
	}
}

// Kill implements hub.Conn: it drops the socket at once.
func (c *conn) Kill(reason string) {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.srv.log.Info("dropping connection", "conn", c.id, "remote", c.remote, "reason", reason)
	c.nc.Close()
}

// Probe implements hub.Conn with a WebSocket ping. A reader that is busy
// inside a join has just received a frame, so it counts as alive.
func (c *conn) Probe(ctx context.Context) bool {
	if c.busy.Load() {
		return true
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if c.probeCh == nil {
		c.probeCh = make(chan struct{})
	}
	ch := c.probeCh
	c.probing.Store(true)
	c.mu.Unlock()
	if !c.enqueue(ws.OpPing, []byte("probe")) {
		return false
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// cleanup runs when the reader ends: the socket closes, the peer leaves
// its rooms (partners get stop) and the server forgets it.
func (c *conn) cleanup() {
	c.mu.Lock()
	c.gone, c.closing = true, true
	c.queued = 0
	if !c.writing {
		c.dropOutLocked()
	}
	c.pingTimer.Stop()
	c.mu.Unlock()
	c.nc.Close()
	c.rd.Close()
	for _, s := range c.rooms {
		c.srv.rooms.Leave(c, hub.Key{App: c.app, Stream: s}, c.leaveReason())
	}
	c.rooms = nil
	c.srv.removeConn(c)
}
