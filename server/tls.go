package server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/tlsrec"
)

// errPlainHTTP ends a TLS handshake that began with a plain HTTP request,
// after the request was redirected.
var errPlainHTTP = errors.New("plain HTTP request on the TLS port")

// tlsConfig is opts.TLS, or the certificate files of cfg, or nil for plain
// HTTP.
func tlsConfig(cfg config.Config, opts Options, log *slog.Logger) (*tls.Config, error) {
	if opts.TLS != nil {
		return opts.TLS, nil
	}
	if cfg.TLSCert == "" {
		return nil, nil
	}
	return certs.FromFiles(cfg.TLSCert, cfg.TLSKey, log)
}

// httpHandler is the handler of the main listener: the mux, with the HSTS
// header on HTTPS responses when configured.
func (s *Server) httpHandler() http.Handler {
	if s.hsts == "" {
		return s.mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", s.hsts)
		}
		s.mux.ServeHTTP(w, r)
	})
}

// listener is ln as the server serves it: with TLS when configured, in
// which case a plain HTTP request on the port (someone typed
// http://host:port) is redirected to https:// on the same port instead of
// failing the handshake.
func (s *Server) listener(ln net.Listener) net.Listener {
	g := newGate(ln, s.gateSize, defaultGateStale)
	s.gate.Store(g)
	if s.tls == nil {
		return g
	}
	sniff := sniffListener{Listener: g, log: s.log, covers: s.covers}
	if s.turnTLS != nil {
		return newTURNMux(sniff, s.tls, leavesGate{s.turnTLS}, s.log)
	}
	return tls.NewListener(sniff, s.tls)
}

// leavesGate hands TURN over TLS connections on the HTTPS port to TURN,
// out of the gate: they are sorted once their handshake is done, never
// answered by HTTP, and live as long as their allocations, so keeping
// their places would fill the gate, and the gate would close them for
// waiting on their client.
type leavesGate struct{ TURNHandler }

func (h leavesGate) ServeTLS(c net.Conn) error {
	if gc := findGateConn(c); gc != nil {
		gc.release()
	}
	return h.TURNHandler.ServeTLS(c)
}

// takeOver moves an upgraded wss:// socket from crypto/tls to duet's own
// record layer (package tlsrec), which holds no buffer and no cipher
// state while the socket is idle, so that ws parks it with no goroutine
// like a plain socket. A socket tlsrec cannot serve (TLS 1.2) stays with
// crypto/tls and keeps a reader goroutine. early is what the client sent
// after its upgrade request that net/http had read; crypto/tls may hold
// more, which is returned after it.
func (s *Server) takeOver(nc net.Conn, early []byte) (net.Conn, []byte) {
	tc, ok := nc.(*tls.Conn)
	if pc, peeked := nc.(*peekedConn); peeked && len(pc.first) == 0 {
		// Sorted by TURN's mux on a shared port: its first byte went to
		// the upgrade request.
		tc, ok = pc.Conn, true
	}
	if !ok {
		return nc, early
	}
	resumed := strconv.FormatBool(tc.ConnectionState().DidResume)
	c, more, err := tlsrec.TakeOver(tc, s.tlsPool)
	if err != nil {
		s.tlsMetrics.Sockets.WithLabelValues("crypto_tls", resumed).Inc()
		s.log.Debug("TLS socket stays with crypto/tls", "remote", nc.RemoteAddr().String(), "why", err)
		return nc, early
	}
	s.tlsMetrics.Sockets.WithLabelValues("tlsrec", resumed).Inc()
	return c, append(early, more...)
}

// RedirectHandler is for a plain-HTTP listener beside the TLS one (e.g. :80
// beside :443): health and readiness as on the TLS port, every other
// request redirected to the same URL on https:// at the port of httpsAddr.
func (s *Server) RedirectHandler(httpsAddr string) http.Handler {
	_, port, _ := net.SplitHostPort(httpsAddr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			s.mux.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !validHost(host) {
			http.Error(w, "bad Host header", http.StatusBadRequest)
			return
		}
		if !s.covers(host) {
			http.Error(w, misdirected, http.StatusMisdirectedRequest)
			return
		}
		if port != "443" && port != "" {
			host = net.JoinHostPort(strings.Trim(host, "[]"), port)
		} else if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
			host = "[" + host + "]"
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// misdirected answers a request whose Host names something this server has
// no certificate for: the Host header is the client's to choose, so a
// redirect may only name the server's own names.
const misdirected = "this server has no certificate for that host name\n"

// covers reports whether the server's certificate is valid for host (a
// name or an address), the only hosts a redirect to https:// may name.
func (s *Server) covers(host string) bool {
	if s.tls == nil {
		return false
	}
	host = strings.Trim(host, "[]")
	hello := &tls.ClientHelloInfo{}
	if net.ParseIP(host) == nil {
		hello.ServerName = host // SNI carries names only
	}
	var cert *tls.Certificate
	switch {
	case s.tls.GetCertificate != nil:
		cert, _ = s.tls.GetCertificate(hello)
	case len(s.tls.Certificates) > 0:
		cert = &s.tls.Certificates[0]
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return false
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return false
		}
	}
	return leaf.VerifyHostname(host) == nil
}

// validHost reports whether h may go into a Location header: letters,
// digits and the punctuation of names and IPv4/IPv6 addresses.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:[]%", r)) {
			return false
		}
	}
	return true
}

// sniffListener looks at the first byte of every connection: a TLS
// handshake record goes on to the TLS server, anything else is taken as a
// plain HTTP request and answered with a redirect to https://.
type sniffListener struct {
	net.Listener
	log    *slog.Logger
	covers func(host string) bool
}

func (l sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// The Watch lets tlsrec take the socket over after its upgrade.
	return &sniffConn{Conn: tlsrec.NewWatch(c), log: l.log, covers: l.covers}, nil
}

type sniffConn struct {
	net.Conn
	log     *slog.Logger
	covers  func(host string) bool
	checked bool
	first   []byte // the first byte, read ahead, until it is handed on
}

// NetConn is the connection under the sniffer (tlsrec finds its Watch
// through it).
func (c *sniffConn) NetConn() net.Conn { return c.Conn }

// Read runs on the connection's own goroutine, inside the TLS handshake and
// under the deadline the HTTP server set for it.
func (c *sniffConn) Read(p []byte) (int, error) {
	if !c.checked {
		var b [1]byte
		n, err := c.Conn.Read(b[:])
		if n == 0 {
			return 0, err
		}
		c.checked = true
		const recordTypeHandshake = 0x16
		if b[0] != recordTypeHandshake {
			c.redirect(b[0])
			return 0, errPlainHTTP
		}
		c.first = b[:]
	}
	if len(c.first) > 0 && len(p) > 0 {
		p[0] = c.first[0]
		c.first = nil
		return 1, nil
	}
	return c.Conn.Read(p)
}

// redirect reads a plain HTTP request that began with first and answers it
// with a redirect to the same URL over https.
func (c *sniffConn) redirect(first byte) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	in := bufio.NewReader(io.LimitReader(io.MultiReader(strings.NewReader(string(first)), c.Conn), 16<<10))
	req, err := http.ReadRequest(in)
	if err != nil {
		const body = "This port speaks HTTPS.\n"
		io.WriteString(c.Conn, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: "+
			strconv.Itoa(len(body))+"\r\n\r\n"+body)
		return
	}
	host := req.Host
	if host == "" {
		host = c.LocalAddr().String()
	}
	if !validHost(host) {
		io.WriteString(c.Conn, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if !c.covers(hostOnly(host)) {
		io.WriteString(c.Conn, "HTTP/1.1 421 Misdirected Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: "+
			strconv.Itoa(len(misdirected))+"\r\n\r\n"+misdirected)
		return
	}
	target := "https://" + host + req.URL.RequestURI()
	c.log.Debug("plain HTTP on the TLS port: redirected", "remote", c.RemoteAddr().String(), "to", target)
	// 307, not a permanent redirect: the port may serve plain HTTP again
	// another day, and browsers keep permanent redirects.
	io.WriteString(c.Conn, "HTTP/1.1 307 Temporary Redirect\r\nLocation: "+target+
		"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
}

// hostOnly is the host of a Host header value (name, address or
// [address], with or without a port).
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}
