package turnserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/turnserver"
)

// testCert is a certificate for 127.0.0.1 and a pool that trusts it.
func testCert(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turn test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"turn.test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	// As duet's HTTPS configuration looks: HTTP/1.1 and ACME's protocol.
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		NextProtos:   []string{"http/1.1", "acme-tls/1"},
	}, pool
}

// tlsClient is a pion TURN client over TLS to addr, offering alpn (none
// when empty) as a browser (none) or an RFC 7443 client would.
func tlsClient(t *testing.T, addr string, pool *x509.CertPool, alpn string) *turn.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if alpn != "" {
		cfg.NextProtos = []string{alpn}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn := turn.NewSTUNConn(c)
	user, pass := minted(time.Hour)
	tc, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "duet", RTO: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close(); conn.Close() })
	return tc
}

// relayOnce allocates through c and sends a datagram each way between the
// relay and a peer.
func relayOnce(t *testing.T, c *turn.Client) {
	t.Helper()
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()
	p := peer(t)
	if _, err := relay.WriteTo([]byte("to peer"), p.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	got, from := read(t, p)
	if got != "to peer" {
		t.Fatalf("peer got %q", got)
	}
	p.WriteTo([]byte("to client"), from)
	if got, _ := read(t, relay); got != "to client" {
		t.Fatalf("client got %q", got)
	}
}

// TestRelayOverTLS: TURN's own TLS port relays for a client with no ALPN
// (as Chromium connects) and for one offering "stun.turn", and the
// advertised URIs add turns: on that port.
func TestRelayOverTLS(t *testing.T) {
	cfg, pool := testCert(t)
	e := start(t, func(o *turnserver.Options) {
		allowLoopback(o)
		o.TLS, o.TLSListen = cfg, "127.0.0.1:0"
	})
	_, uris := e.srv.URIs()
	last := uris[len(uris)-1]
	port := strings.TrimSuffix(strings.TrimPrefix(last, "turns:127.0.0.1:"), "?transport=tcp")
	if _, err := strconv.Atoi(port); err != nil || !strings.HasPrefix(last, "turns:") {
		t.Fatalf("URIs %v: no turns: URI last", uris)
	}
	addr := "127.0.0.1:" + port
	for _, alpn := range []string{"", turnserver.ALPN} {
		relayOnce(t, tlsClient(t, addr, pool, alpn))
	}
	waitFor(t, "allocations to close", func() bool { return e.srv.Allocations() == 0 })
}

// TestServeTLSHandsOver: a connection whose handshake was done elsewhere
// (the HTTPS port TURN shares) is served by ServeTLS; the URIs advertise
// that port under the TLS host name.
func TestServeTLSHandsOver(t *testing.T) {
	cfg, pool := testCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", turnserver.TLSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	shared := ln.Addr().(*net.TCPAddr).Port
	e := start(t, func(o *turnserver.Options) {
		allowLoopback(o)
		o.TLS, o.TLSPort, o.TLSHost = cfg, shared, "turn.test"
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if err := c.(*tls.Conn).Handshake(); err != nil {
				c.Close()
				continue
			}
			e.srv.ServeTLS(c)
		}
	}()
	_, uris := e.srv.URIs()
	if want := "turns:turn.test:" + strconv.Itoa(shared) + "?transport=tcp"; uris[len(uris)-1] != want {
		t.Fatalf("URIs %v, want %s last", uris, want)
	}
	relayOnce(t, tlsClient(t, ln.Addr().String(), pool, ""))
}

// TestTLSHandshakeBounds: a client that connects and says nothing is
// dropped after the handshake timeout; an ACME CA's TLS-ALPN-01 handshake
// completes and the connection ends there; Close ends handshakes in
// progress (the leak check of TestMain sees none left).
func TestTLSHandshakeBounds(t *testing.T) {
	cfg, pool := testCert(t)
	reg := prometheus.NewRegistry()
	srv, err := turnserver.Start(turnserver.Options{Listen: "127.0.0.1:0", PublicIP: net.IPv4(127, 0, 0, 1), Secret: secret,
		Registerer: reg, TLS: cfg, TLSListen: "127.0.0.1:0", HandshakeTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	closeSrv := func() { srv.Close() }
	t.Cleanup(closeSrv)
	e := &env{srv: srv, reg: reg}
	_, uris := e.srv.URIs()
	addr := strings.TrimSuffix(strings.TrimPrefix(uris[len(uris)-1], "turns:"), "?transport=tcp")

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("silent client: read %v, want the server to close", err)
	}
	waitFor(t, "the refusal to be counted", func() bool { return e.metric(t, "duet_turn_refused_total", "tls_handshake") == 1 })

	acme, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"acme-tls/1"}})
	if err != nil {
		t.Fatalf("ACME handshake: %v", err)
	}
	acme.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := acme.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("ACME challenge connection: read %v, want it closed", err)
	}
	acme.Close()

	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	closeSrv()
	stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("after Close: read %v, want the handshake ended", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
