package server

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var errNotSocket = errors.New("server: not a socket")

// gate bounds the connections between accept and their first answer: the
// TLS handshake, the HTTP request, the WebSocket upgrade. Those are what
// a reconnect storm costs (a handshake's state is tens of kilobytes), and
// without a bound every client of a restarted node would be mid-handshake
// at once. A connection beyond the bound waits in the kernel's accept
// queue until one finishes. When the gate is full and more wait, a
// connection whose server has been waiting for its client's bytes for
// longer than stale is closed: a client that opens connections and says
// nothing (or stalls mid-handshake) must not be able to keep everyone else
// out with a few hundred of them. One that waits for the server (a busy
// node handshaking a storm) keeps its place.
type gate struct {
	net.Listener
	slots  chan struct{}
	stale  time.Duration
	closed chan struct{}
	once   sync.Once

	waiting atomic.Int32 // Accept calls waiting for a place: the gate is full

	mu   sync.Mutex
	held map[*gateConn]struct{}
}

// Gate defaults: a thousand handshakes in flight hold a few tens of
// megabytes; a TLS 1.3 handshake takes one round trip after the
// ClientHello, so 3 s is generous for a client that means it.
const (
	defaultGateSize  = 1024
	defaultGateStale = 3 * time.Second
)

func newGate(ln net.Listener, size int, stale time.Duration) *gate {
	return &gate{Listener: ln, slots: make(chan struct{}, size), stale: stale, closed: make(chan struct{}),
		held: make(map[*gateConn]struct{})}
}

// Accept takes a connection and waits for a place for it. One accepted
// connection at most waits so (the rest wait in the kernel's queue), and
// it costs only its descriptor while it does.
func (g *gate) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case g.slots <- struct{}{}:
	default:
		g.waiting.Add(1)
		t := time.NewTicker(g.stale / 4)
		for done := false; !done; {
			g.expire()
			select {
			case g.slots <- struct{}{}:
				done = true
			case <-t.C:
			case <-g.closed:
				t.Stop()
				g.waiting.Add(-1)
				c.Close()
				return nil, net.ErrClosed
			}
		}
		t.Stop()
		g.waiting.Add(-1)
	}
	gc := &gateConn{Conn: c, g: g}
	g.mu.Lock()
	g.held[gc] = struct{}{}
	g.mu.Unlock()
	return gc, nil
}

// expire closes the connections whose server has waited for their
// client for longer than stale.
func (g *gate) expire() {
	cut := time.Now().Add(-g.stale).UnixNano()
	g.closeStale(g.staleConns(cut), cut)
}

// staleConns are the connections whose server has waited for their client
// since before cut.
func (g *gate) staleConns(cut int64) []*gateConn {
	var old []*gateConn
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.held {
		if w := c.waiting.Load(); w != 0 && w < cut {
			old = append(old, c)
		}
	}
	return old
}

// closeStale closes those of old that are still stale: each is checked
// again as it is closed, because between the look and the close its
// client may have sent what its server waited for and the connection
// have left the gate, upgraded — in a storm the accepting goroutine that
// expires connections can wait a long time for the CPU. Closing it then
// killed a socket that had joined (its next write failed and its seat was
// held until its grace ran out: its partner got stop).
func (g *gate) closeStale(old []*gateConn, cut int64) {
	for _, c := range old {
		c.expireIfStale(cut)
	}
}

// Close stops Accept, also one waiting for a place.
func (g *gate) Close() error {
	g.once.Do(func() { close(g.closed) })
	return g.Listener.Close()
}

// pending is the number of connections holding a place.
func (g *gate) pending() int {
	if g == nil {
		return 0
	}
	return len(g.slots)
}

// full reports whether a connection waits for a place.
func (g *gate) full() bool { return g != nil && g.waiting.Load() > 0 }

// connState is the HTTP server's ConnState hook: a connection leaves the
// gate when it was upgraded, answered or closed.
func (g *gate) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateHijacked, http.StateIdle, http.StateClosed:
		if gc := findGateConn(c); gc != nil {
			gc.release()
		}
	}
}

// gateConn is a connection holding a place in the gate until it is
// released, once.
type gateConn struct {
	net.Conn
	g       *gate
	waiting atomic.Int64 // unix ns since a read has waited for the client; 0: none waits

	// mu orders leaving the gate (release) and being closed for staleness
	// (expireIfStale): a connection that has left is never closed by the
	// gate, and one the gate closed leaves it closed.
	mu   sync.Mutex
	left atomic.Bool // released: a socket now, no longer watched
}

// Read notes how long the server waits for the client.
func (c *gateConn) Read(p []byte) (int, error) {
	if c.left.Load() {
		return c.Conn.Read(p)
	}
	c.waiting.Store(time.Now().UnixNano())
	n, err := c.Conn.Read(p)
	c.waiting.Store(0)
	return n, err
}

func (c *gateConn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaveLocked()
}

// leaveLocked frees c's place, once. The caller holds c.mu.
func (c *gateConn) leaveLocked() {
	if c.left.Load() {
		return
	}
	c.left.Store(true)
	c.g.mu.Lock()
	delete(c.g.held, c)
	c.g.mu.Unlock()
	<-c.g.slots
}

// expireIfStale closes c if it still holds its place and its server still
// waits for it since before cut: its handshake or request fails, and the
// server lets go of it. It reports whether it did.
func (c *gateConn) expireIfStale(cut int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w := c.waiting.Load(); c.left.Load() || w == 0 || w >= cut {
		return false
	}
	c.Conn.Close()
	c.leaveLocked()
	return true
}

// NetConn is the accepted connection.
func (c *gateConn) NetConn() net.Conn { return c.Conn }

// SyscallConn is the socket's (tlsrec parks a TLS socket by it); a
// gateConn buffers nothing.
func (c *gateConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errNotSocket
	}
	return sc.SyscallConn()
}

// Close releases the place too (a connection closed before the server saw
// it finish).
func (c *gateConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// findGateConn finds the gateConn under c, through wrappers with a NetConn
// method (tls.Conn, the TLS sniffer, tlsrec's Watch).
func findGateConn(c net.Conn) *gateConn {
	for i := 0; i < 8 && c != nil; i++ {
		if gc, ok := c.(*gateConn); ok {
			return gc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}
