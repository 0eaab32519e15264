package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/turnserver"
)

// startSharedTURN runs an HTTPS server whose port TURN over TLS shares,
// with an embedded TURN server that may relay on loopback.
func startSharedTURN(t *testing.T) (*testserver.Server, *turnserver.Server, *x509.CertPool) {
	t.Helper()
	return startSharedTURNWith(t, server.Options{})
}

// startSharedTURNWith is startSharedTURN with opts (their TLS, HSTS and
// TURNTLS set here).
func startSharedTURNWith(t *testing.T, opts server.Options) (*testserver.Server, *turnserver.Server, *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool := selfSigned(t)
	tc, err := certs.FromFiles(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := turnserver.Start(turnserver.Options{
		Listen: "127.0.0.1:0", PublicIP: net.IPv4(127, 0, 0, 1), RelayAddress: "127.0.0.1",
		Secret: []byte("shared-port-secret"), TLS: tc, AllowPrivatePeers: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	opts.TLS, opts.HSTS, opts.TURNTLS = tc, "max-age=600", ts
	s := testserver.Start(t, testserver.Config(), opts)
	return s, ts, pool
}

// TestTURNSharesTheHTTPSPort: on one port, after the TLS handshake, HTTPS
// clients with ALPN (a browser, Go's http client) and without (a WebSocket
// client) get duet, with HSTS; TURN clients without ALPN (as Chromium
// connects to turns:) and with "stun.turn" (RFC 7443) get TURN; plain
// http:// is still redirected.
func TestTURNSharesTheHTTPSPort(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, ts, pool := startSharedTURNWith(t, server.Options{Registry: reg})

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get("https://" + s.Addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.NegotiatedProtocol != "http/1.1" || resp.Header.Get("Strict-Transport-Security") != "max-age=600" {
		t.Fatalf("HTTPS with ALPN: %d, ALPN %q, HSTS %q", resp.StatusCode, resp.TLS.NegotiatedProtocol, resp.Header.Get("Strict-Transport-Security"))
	}

	// Go's http client with a TLS configuration of its own offers no ALPN.
	bare := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer bare.CloseIdleConnections()
	resp, err = (&http.Client{Transport: bare}).Get("https://" + s.Addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.NegotiatedProtocol != "" || resp.Header.Get("Strict-Transport-Security") != "max-age=600" {
		t.Fatalf("HTTPS without ALPN: %d, ALPN %q, HSTS %q (seen as HTTPS?)", resp.StatusCode, resp.TLS.NegotiatedProtocol, resp.Header.Get("Strict-Transport-Security"))
	}

	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("wss://"+s.Addr+"/WebRTCAppEE/websocket", nil)
	if err != nil {
		t.Fatalf("wss without ALPN: %v", err)
	}
	defer ws.Close()
	if p := ws.UnderlyingConn().(*tls.Conn).ConnectionState().NegotiatedProtocol; p != "" {
		t.Fatalf("the WebSocket client negotiated %q: the test needs one without ALPN", p)
	}
	ws.WriteJSON(map[string]any{"command": "ping"})
	var pong map[string]any
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := ws.ReadJSON(&pong); err != nil || pong["command"] != "pong" {
		t.Fatalf("ping over wss: %v %v", pong, err)
	}
	// Sorted by its first byte, it still leaves crypto/tls for the record
	// layer that lets it park.
	if got := counter(t, reg, "duet_tls_websockets_total", "layer", "tlsrec", "resumed", "false"); got != 1 {
		t.Fatalf("wss:// sockets taken over by tlsrec: %v, want 1", got)
	}

	for _, alpn := range []string{"", "stun.turn"} {
		relayThrough(t, s.Addr, pool, alpn)
	}
	waitAllocations(t, ts)

	resp, err = hc.Get("http://" + s.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("plain http on the shared port: %d", resp.StatusCode)
	}
}

// TestSharedPortSilentClient: a client that completes the handshake and
// sends nothing does not stop the port serving others, and the server's
// drain ends its wait.
func TestSharedPortSilentClient(t *testing.T) {
	s, _, pool := startSharedTURN(t)
	silent, err := tls.Dial("tcp", s.Addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	relayThrough(t, s.Addr, pool, "")
	s.Stop(t) // waits for the sorting goroutines (goleak checks at the end)
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("silent client after the drain: %v, want closed", err)
	}
}

// TestSharedPortTURNLeavesTheGate: TURN connections on the HTTPS port do
// not keep places among the connections waiting for their first answer
// (the gate of a reconnect storm): with two places, three TURN clients
// stay connected and an HTTPS request is still answered. Kept places
// would leave the third client and the request waiting until the gate
// closed TURN connections for being silent.
func TestSharedPortTURNLeavesTheGate(t *testing.T) {
	s, _, pool := startSharedTURNWith(t, server.Options{MaxPending: 2})
	var clients []*turn.Client
	for range 3 {
		c, err := tls.Dial("tcp", s.Addr, &tls.Config{RootCAs: pool, NextProtos: []string{"stun.turn"}})
		if err != nil {
			t.Fatal(err)
		}
		tc, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: s.Addr, Conn: turn.NewSTUNConn(c), RTO: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		if err := tc.Listen(); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.SendBindingRequest(); err != nil {
			t.Fatalf("binding over TURN/TLS: %v", err)
		}
		clients = append(clients, tc)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + s.Addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hc.CloseIdleConnections()
	for i, tc := range clients {
		if _, err := tc.SendBindingRequest(); err != nil {
			t.Fatalf("TURN client %d after the HTTPS request: %v (closed by the gate?)", i, err)
		}
	}
}

// relayThrough allocates on TURN over TLS at addr and relays a datagram to
// a loopback peer.
func relayThrough(t *testing.T, addr string, pool *x509.CertPool, alpn string) {
	t.Helper()
	cfg := &tls.Config{RootCAs: pool}
	if alpn != "" {
		cfg.NextProtos = []string{alpn}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnectionState().NegotiatedProtocol; got != alpn {
		t.Fatalf("TURN client negotiated %q, want %q", got, alpn)
	}
	conn := turn.NewSTUNConn(c)
	defer conn.Close()
	user, pass := ice.Mint([]byte("shared-port-secret"), "t", time.Now().Add(time.Hour))
	tc, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "duet", RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := tc.Allocate()
	if err != nil {
		t.Fatalf("allocate over TLS (ALPN %q) on the HTTPS port: %v", alpn, err)
	}
	defer relay.Close()
	p, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	relay.WriteTo([]byte("over 443"), p.LocalAddr())
	buf := make([]byte, 64)
	p.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := p.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "over 443" {
		t.Fatalf("peer got %q %v", buf[:n], err)
	}
}

func waitAllocations(t *testing.T, ts *turnserver.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ts.Allocations() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d allocations left", ts.Allocations())
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a condition wait
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
