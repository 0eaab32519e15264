package server

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// TURNHandler serves TURN on connections whose TLS handshake is done:
// turnserver.Server, when TURN over TLS shares the HTTPS port.
type TURNHandler interface {
	ServeTLS(c net.Conn) error
}

// turnALPN is TURN over TLS's application protocol (RFC 7443).
const turnALPN = "stun.turn"

// sortTimeout bounds the TLS handshake and the wait for the first byte
// after it on a shared port, as ReadHeaderTimeout does for HTTP.
const sortTimeout = 10 * time.Second

// turnMux is the HTTPS listener when TURN over TLS shares its port. Each
// connection's TLS handshake runs on a goroutine of its own; then the
// connection is TURN when it negotiated "stun.turn", HTTP when it
// negotiated an HTTP protocol, and otherwise (browsers offer TURN servers
// no ALPN, many WebSocket clients offer HTTPS servers none) decided by its
// first byte: a STUN message or TURN ChannelData begins with 0b00 or 0b01
// in its top bits (RFC 5764's demultiplexing), an HTTP request with a
// letter. Accept returns the HTTP connections.
type turnMux struct {
	ln   net.Listener
	cfg  *tls.Config
	turn TURNHandler
	log  *slog.Logger

	httpc chan net.Conn
	errc  chan error
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu      sync.Mutex
	sorting map[net.Conn]struct{} // connections in sort; nil once closed
}

func newTURNMux(ln net.Listener, cfg *tls.Config, turn TURNHandler, log *slog.Logger) *turnMux {
	c := withALPN(cfg.Clone())
	if get := c.GetConfigForClient; get != nil {
		// The configuration a handshake uses (the session ticket keys of
		// the hour, the record layer's key log) must offer TURN too.
		c.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			x, err := get(h)
			if x == nil || err != nil || slices.Contains(x.NextProtos, turnALPN) {
				return x, err
			}
			return withALPN(x.Clone()), nil
		}
	}
	m := &turnMux{ln: ln, cfg: c, turn: turn, log: log,
		httpc: make(chan net.Conn), errc: make(chan error), done: make(chan struct{}), sorting: map[net.Conn]struct{}{}}
	m.wg.Go(m.acceptLoop)
	return m
}

// withALPN adds TURN's protocol to c's and returns c.
func withALPN(c *tls.Config) *tls.Config {
	if !slices.Contains(c.NextProtos, turnALPN) {
		c.NextProtos = append(slices.Clip(c.NextProtos), turnALPN)
	}
	return c
}

func (m *turnMux) acceptLoop() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case m.errc <- err: // http.Server retries a temporary error
			case <-m.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m.mu.Lock()
		if m.sorting == nil { // closed
			m.mu.Unlock()
			c.Close()
			return
		}
		m.sorting[c] = struct{}{}
		m.mu.Unlock()
		m.wg.Go(func() {
			m.sort(c)
			m.mu.Lock()
			delete(m.sorting, c)
			m.mu.Unlock()
		})
	}
}

// sort completes c's handshake and sends it where it belongs.
func (m *turnMux) sort(raw net.Conn) {
	raw.SetDeadline(time.Now().Add(sortTimeout))
	tc := tls.Server(raw, m.cfg)
	if err := tc.Handshake(); err != nil {
		m.log.Debug("TLS handshake failed", "remote", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		return
	}
	var out net.Conn = tc
	isTURN := false
	switch tc.ConnectionState().NegotiatedProtocol {
	case turnALPN:
		isTURN = true
	case "":
		var b [1]byte
		if _, err := tc.Read(b[:]); err != nil {
			raw.Close()
			return
		}
		// A TURN client's first message is a STUN request (ChannelData,
		// 0b01, needs a channel bound first, and shares its range with
		// the letters of HTTP methods).
		isTURN = b[0] < 0x40
		out = &peekedConn{Conn: tc, first: b[:]}
	}
	raw.SetDeadline(time.Time{})
	if isTURN {
		m.turn.ServeTLS(out) // closes out if TURN has stopped
		return
	}
	select {
	case m.httpc <- out:
	case <-m.done:
		raw.Close()
	}
}

func (m *turnMux) Accept() (net.Conn, error) {
	select {
	case c := <-m.httpc:
		return c, nil
	case err := <-m.errc:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and waits for connections being sorted: those
// for HTTP are closed, those for TURN handed over.
func (m *turnMux) Close() error {
	var err error
	m.once.Do(func() {
		err = m.ln.Close()
		close(m.done)
		m.mu.Lock()
		for c := range m.sorting {
			c.SetDeadline(time.Now()) // ends a handshake or a wait for the first byte
		}
		m.sorting = nil
		m.mu.Unlock()
	})
	m.wg.Wait()
	return err
}

func (m *turnMux) Addr() net.Addr { return m.ln.Addr() }

// peekedConn is a TLS connection whose first byte of data was read to
// sort it; Read gives that byte back first. Its ConnectionState makes
// net/http see its requests as HTTPS.
type peekedConn struct {
	*tls.Conn
	first []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 && len(p) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
