package server

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/ws"
	"github.com/duet-rtc/duet/protocol"
)

// conn is one client: a ws.Conn, which owns the socket's life, and the
// protocol state above it — the rooms it is in and its limits. Its Message,
// Violation and Closed run on the socket's reader, one at a time.
//
// Lock order, outermost first: a cluster member's lock or a hub.Local
// room shard's lock, then the ws.Conn's own lock (taken inside Send, Kill
// and Probe), then the ws.Engine's table lock. Send, Kill and the first half of
// Probe do no I/O, close nothing and do not block, so the hubs may call
// them under their locks; a room call (Join, Leave, Relay) is never made
// while holding a ws.Conn lock, since the reader calls out holding none.
type conn struct {
	ws.Conn
	srv    *Server
	app    string
	id     uint64
	remote string     // client address for logs: the direct peer, or X-Forwarded-For from a trusted proxy
	addr   netip.Addr // client address for max_connections_per_ip
	// urlToken is the token query parameter of the WebSocket URL.
	urlToken string

	busy atomic.Bool // the reader is inside a blocking room call

	ops opsState     // kicks and the ICE answer (ops.go)
	q   qualityState // quality reports (quality.go)

	// Owned by the reader.
	rooms   []string
	limiter *rate.Limiter // nil: no rate limit
	limited int
	invalid int
}

var _ hub.Conn = (*conn)(nil)

// Kill implements hub.Conn: it drops the socket without a handshake. It
// does not block; the reader closes the socket and leaves the rooms.
func (c *conn) Kill(reason string) {
	c.srv.log.Info("dropping connection", "conn", c.id, "remote", c.remote, "reason", reason)
	c.Drop(ws.CauseKilled)
}

// Probe implements hub.Conn with a WebSocket ping. A reader that is busy
// inside a join has just received a frame, so it counts as alive.
func (c *conn) Probe(ctx context.Context) bool {
	if c.busy.Load() {
		return true
	}
	return c.Conn.Probe(ctx)
}

// Message implements ws.Handler.
func (c *conn) Message(op ws.Opcode, p []byte, now time.Time) {
	if op != ws.OpText {
		c.Close(ws.CloseUnsupported, "binary frames are not supported", ws.CauseProtocol)
		return
	}
	c.handle(p, now)
}

// Violation implements ws.Handler: a message over the limit gets an error
// the client can show before the close.
func (c *conn) Violation(ce *ws.CloseError) {
	if ce.Code == ws.CloseTooBig {
		c.sendError(protocol.ErrMessageTooLarge, "")
	}
}

// Closed implements ws.Handler: the member leaves its rooms (partners get
// stop) and the server forgets the socket.
func (c *conn) Closed(cause ws.Cause) {
	switch cause {
	case ws.CauseSlowReader:
		c.srv.metrics.SlowDropped.Inc()
		c.srv.log.Warn("dropped slow client", "conn", c.id, "remote", c.remote, "queue_bytes", c.srv.cfg.SendQueueBytes)
	case ws.CauseWriteFailed, ws.CauseIdleTimeout:
		c.srv.log.Info("dropped connection", "conn", c.id, "remote", c.remote, "cause", cause)
	default:
		c.srv.log.Debug("connection closed", "conn", c.id, "remote", c.remote, "cause", cause)
	}
	reason := leaveReason(cause)
	for _, s := range c.rooms {
		c.srv.rooms.Leave(c, hub.Key{App: c.app, Stream: s}, reason)
		c.leftRoom(s)
	}
	c.rooms = nil
	c.srv.removeConn(c)
}

// leaveReason is what the rooms are told of a socket that ended: a member
// that went silent timed out; any other end is a closed socket.
func leaveReason(cause ws.Cause) hub.Reason {
	if cause == ws.CauseIdleTimeout {
		return hub.ReasonTimeout
	}
	return hub.ReasonClosed
}
