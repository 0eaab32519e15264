package turnserver

import (
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"
	"time"
)

// ALPN is the application protocol of TURN over TLS (RFC 7443). Browsers
// do not offer it; a client that does is TURN without a doubt.
const ALPN = "stun.turn"

// acmeALPN is the TLS-ALPN-01 challenge's protocol: an ACME CA validating
// a certificate on the TURN port completes a handshake and leaves.
const acmeALPN = "acme-tls/1"

// DefaultHandshakeTimeout bounds a TLS handshake: a client that connects
// and says nothing holds a socket and a goroutine only this long.
const DefaultHandshakeTimeout = 10 * time.Second

// maxHandshakes bounds handshakes in progress on the TURN TLS listener;
// connections above it are closed at once.
const maxHandshakes = 1024

// ErrClosed is returned by ServeTLS once the server is closed.
var ErrClosed = errors.New("turnserver: closed")

// TLSConfig is the TURN listener's TLS configuration made from the
// server's: its certificate, TURN's protocol, and ACME's challenge
// protocol when the server's has it.
func TLSConfig(server *tls.Config) *tls.Config {
	c := server.Clone()
	protos := []string{ALPN}
	if slices.Contains(server.NextProtos, acmeALPN) {
		protos = append(protos, acmeALPN)
	}
	c.NextProtos = protos
	return c
}

// connQueue is a net.Listener fed by hand: pion's TURN server accepts from
// it the TLS connections whose handshake was done elsewhere (on TURN's own
// TLS port, or on the HTTPS port it shares).
type connQueue struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// put hands c to the TURN server, or closes it when the queue is closed.
func (q *connQueue) put(c net.Conn) error {
	select {
	case q.conns <- c:
		return nil
	case <-q.done:
		c.Close()
		return ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// ServeTLS takes a client connection whose TLS handshake is done (the
// HTTPS listener's, when TURN shares its port) and serves TURN on it until
// either side closes it. It does not block on the connection.
func (s *Server) ServeTLS(c net.Conn) error {
	if s.tlsQueue == nil {
		c.Close()
		return errors.New("turnserver: TLS is not configured")
	}
	return s.tlsQueue.put(c)
}

// listenTLS opens TURN's own TLS port when one is configured; handshakes
// run one goroutine each, bounded in number and time, and done ones go to
// the queue pion accepts from.
func (s *Server) listenTLS() error {
	if s.o.TLS == nil {
		return nil
	}
	s.tlsQueue = newConnQueue(&net.TCPAddr{IP: s.o.PublicIP})
	if s.o.TLSListen == "" {
		return nil
	}
	raw, err := net.Listen("tcp", s.o.TLSListen)
	if err != nil {
		return err
	}
	// Tracked, so that Close also ends handshakes in progress.
	ln := &trackingListener{Listener: raw, conns: map[net.Conn]struct{}{}}
	s.tlsLn = ln
	s.tlsQueue.addr = ln.Addr()
	s.tlsPort = ln.Addr().(*net.TCPAddr).Port
	s.tlsWG.Go(func() { s.acceptTLS(ln, TLSConfig(s.o.TLS)) })
	return nil
}

func (s *Server) acceptTLS(ln net.Listener, cfg *tls.Config) {
	slots := make(chan struct{}, maxHandshakes)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("TURN TLS accept failed", "err", err)
			select {
			case <-s.tlsQueue.done:
				return
			case <-time.After(50 * time.Millisecond): // out of files: let some close
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.m.refuse("tls_busy")
			c.Close()
			continue
		}
		s.tlsWG.Go(func() {
			defer func() { <-slots }()
			s.handshake(c, cfg)
		})
	}
}

// handshake completes c's TLS handshake within HandshakeTimeout and hands
// it to TURN; an ACME challenge ends with its handshake.
func (s *Server) handshake(raw net.Conn, cfg *tls.Config) {
	tc := tls.Server(raw, cfg)
	raw.SetDeadline(time.Now().Add(s.o.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		s.m.refuse("tls_handshake")
		s.log.Debug("TURN TLS handshake failed", "client", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == acmeALPN {
		tc.Close()
		return
	}
	s.tlsQueue.put(tc)
}
