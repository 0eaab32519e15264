package server

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/hub"
)

// closeGrace bounds the closing handshake: after our close frame, the peer
// has this long to answer before the socket is dropped.
const closeGrace = 2 * time.Second

// conn is one WebSocket client. Its reader goroutine lives as long as the
// socket; a writer goroutine runs only while frames are queued, so an idle
// socket costs one goroutine.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	app    string
	id     uint64
	remote string

	mu        sync.Mutex
	queue     [][]byte // frames waiting for the writer
	queued    int      // bytes in queue
	writing   bool     // a writer goroutine is running
	closing   bool     // no more frames accepted
	closeCode int      // close frame to send after the queue, if non-zero
	closeText string
	gone      bool          // the socket is closed
	probeCh   chan struct{} // closed when the peer is next heard from
	pingTimer *time.Timer

	closingFlag atomic.Bool // mirrors closing for the reader's hot path
	probing     atomic.Bool // a probe waits on probeCh
	busy        atomic.Bool // the reader is inside a blocking room call

	// Owned by the reader goroutine.
	rooms   []string
	tokens  float64
	last    time.Time
	limited int
	invalid int
}

var _ hub.Conn = (*conn)(nil)

func newConn(s *Server, ws *websocket.Conn, app, remote string) *conn {
	return &conn{srv: s, ws: ws, app: app, remote: remote, id: s.nextID.Add(1)}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *conn) readLoop() {
	defer c.cleanup()
	cfg := &c.srv.cfg
	c.ws.SetPongHandler(func(string) error { c.heard(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		c.heard()
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.WriteTimeout))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})
	c.heard()
	c.mu.Lock()
	c.pingTimer = time.AfterFunc(jitter(cfg.PingInterval), c.ping)
	c.mu.Unlock()

	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		c.heard()
		if mt != websocket.TextMessage {
			c.closeWith(websocket.CloseUnsupportedData, "binary frames are not supported")
			c.discard()
			return
		}
		bp := bufPool.Get().(*[]byte)
		data, tooBig, err := readLimited(r, (*bp)[:0], cfg.MaxMessageBytes)
		if err != nil {
			bufPool.Put(bp)
			return
		}
		if tooBig {
			bufPool.Put(bp)
			c.sendError(errMessageTooLarge, "")
			c.closeWith(websocket.CloseMessageTooBig, "message too large")
			c.discard()
			return
		}
		c.handle(data)
		if cap(data) <= 64<<10 {
			*bp = data[:0]
			bufPool.Put(bp)
		}
	}
}

// readLimited reads a whole message into buf, or reports that it is longer
// than max bytes.
func readLimited(r io.Reader, buf []byte, max int) ([]byte, bool, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > max {
			return buf, true, nil
		}
		if err == io.EOF {
			return buf, false, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}

// discard reads and drops frames until the peer completes the closing
// handshake or the grace period ends.
func (c *conn) discard() {
	c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}

// heard records that the peer is alive: it pushes the idle deadline back
// and releases any probe waiting on it.
func (c *conn) heard() {
	if !c.closingFlag.Load() {
		c.ws.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
	}
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

func (c *conn) ping() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.pingTimer.Reset(jitter(c.srv.cfg.PingInterval))
	c.mu.Unlock()
	c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.srv.cfg.WriteTimeout))
}

// jitter spreads d by ±10% so pings of sockets opened together spread out.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// Send implements hub.Conn. A frame that would push the queue past the
// configured bytes drops the connection: a reader that slow cannot follow
// a negotiation anyway, and the rest of the server must not wait for it.
func (c *conn) Send(frame []byte) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if c.queued+len(frame) > c.srv.cfg.SendQueueBytes {
		c.closing, c.queue, c.queued = true, nil, 0
		c.closingFlag.Store(true)
		c.mu.Unlock()
		c.srv.metrics.SlowDropped.Inc()
		c.srv.log.Warn("dropping slow client", "conn", c.id, "remote", c.remote, "queue_bytes", c.srv.cfg.SendQueueBytes)
		c.ws.NetConn().Close()
		return false
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.startWriterLocked()
	c.mu.Unlock()
	return true
}

// startWriterLocked starts the writer if none runs. The caller holds c.mu
// and has checked the socket is not gone, so the reader still holds the
// server's WaitGroup above zero.
func (c *conn) startWriterLocked() {
	if !c.writing && !c.gone {
		c.writing = true
		c.srv.wg.Add(1)
		go c.writeLoop()
	}
}

func (c *conn) writeLoop() {
	defer c.srv.wg.Done()
	var batch [][]byte
	for {
		c.mu.Lock()
		if c.gone {
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.queued = 0
		if len(batch) == 0 {
			code, text := c.closeCode, c.closeText
			c.closeCode = 0
			c.writing = false
			c.mu.Unlock()
			if code != 0 {
				deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
				c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), deadline)
				c.ws.SetReadDeadline(time.Now().Add(closeGrace))
			}
			return
		}
		c.mu.Unlock()
		c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		for i, f := range batch {
			batch[i] = nil
			if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
				c.mu.Lock()
				c.writing = false
				gone := c.gone
				c.mu.Unlock()
				if !gone {
					c.Kill("write failed: " + err.Error())
				}
				return
			}
		}
	}
}

// closeWith sends the queued frames, then a close frame with code and
// reason, and gives the peer closeGrace to answer before the reader drops
// the socket.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing, c.closeCode, c.closeText = true, code, reason
	c.closingFlag.Store(true)
	c.srv.log.Debug("closing connection", "conn", c.id, "remote", c.remote, "code", code, "reason", reason)
	c.startWriterLocked()
}

// Kill implements hub.Conn: it drops the socket at once.
func (c *conn) Kill(reason string) {
	c.mu.Lock()
	c.closing = true
	c.closingFlag.Store(true)
	c.mu.Unlock()
	c.srv.log.Info("dropping connection", "conn", c.id, "remote", c.remote, "reason", reason)
	c.ws.NetConn().Close()
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
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.srv.cfg.ProbeTimeout)
	}
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("probe"), deadline); err != nil {
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
	c.closingFlag.Store(true)
	c.queue, c.queued = nil, 0
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	c.mu.Unlock()
	c.ws.NetConn().Close()
	for _, s := range c.rooms {
		c.srv.rooms.Leave(c, hub.Key{App: c.app, Stream: s}, false)
	}
	c.rooms = nil
	c.srv.removeConn(c)
}
