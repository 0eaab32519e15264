package certs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/syncbuf"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) {
	// Pebble's validation authority waits up to 5 s before each validation
	// unless told not to. Its front end still rejects 5% of nonces as bad,
	// which the ACME client must retry.
	os.Setenv("PEBBLE_VA_NOSLEEP", "1")
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent(),
		// Neither Pebble's validation queue nor autocert's renewal timers
		// can be stopped, nor the detached goroutine autocert starts after
		// an order to give up its pending authorizations (it retries, up
		// to 5 minutes, against a CA the test has shut down).
		goleak.IgnoreAnyFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"),
		goleak.IgnoreAnyFunction("golang.org/x/crypto/acme/autocert.(*domainRenewal).renew"),
		goleak.IgnoreAnyFunction("golang.org/x/crypto/acme/autocert.(*Manager).deactivatePendingAuthz"))
}

const (
	domain = "call.duet.test"
	// certificates live this long, so autocert renews them after about
	// two thirds of it
	validity = 30 * time.Second
)

// TestACMETLSALPN01 gets a certificate from Pebble by TLS-ALPN-01 on the
// TLS port itself, makes a call over wss:// with it, sees it renewed, and
// after a restart with the CA gone serves the renewed one from data_dir.
func TestACMETLSALPN01(t *testing.T) {
	t.Parallel()
	tlsLn := listen(t)
	p := startPebble(t, validity, port(deadListener(t)), port(tlsLn))
	cfg := acmeConfig(p, t.TempDir())
	n := startNode(t, cfg, tlsLn, nil)

	first := n.handshake(t, p.Roots)
	if _, ok := first.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("the ACME certificate has a %T key; ECDSA is the default (cheaper handshakes)", first.PublicKey)
	}
	if got := n.logs.String(); !strings.Contains(got, "ACME TLS-ALPN-01 challenge") || strings.Contains(got, "HTTP-01") {
		t.Fatalf("want a TLS-ALPN-01 challenge and no other; duet logged:\n%s", got)
	}
	n.call(t, p.Roots)
	renewed := n.waitRenewal(t, p.Roots, first)
	t.Logf("issued serial %s until %s, renewed as %s until %s", first.SerialNumber, first.NotAfter.Format(time.TimeOnly),
		renewed.SerialNumber, renewed.NotAfter.Format(time.TimeOnly))

	// The CA goes away; a restart serves what data_dir holds.
	p.Shutdown()
	n.stop(t)
	stored := storedCert(t, cfg)
	n2 := startNode(t, cfg, listen(t), nil)
	if got := n2.handshake(t, p.Roots); !got.Equal(stored) || got.NotAfter.Before(renewed.NotAfter) {
		t.Fatalf("after restart served serial %s, data_dir holds %s (renewed: %s)", got.SerialNumber, stored.SerialNumber, renewed.SerialNumber)
	}
	n2.call(t, p.Roots)
}

// TestACMEHTTP01 gets and renews a certificate by HTTP-01 on the plain-HTTP
// listener, as when port 443 does not reach duet (TLS-ALPN-01, tried
// first, fails). The listener also redirects everything else to https.
func TestACMEHTTP01(t *testing.T) {
	t.Parallel()
	tlsLn, httpLn := listen(t), listen(t)
	p := startPebble(t, validity, port(httpLn), port(deadListener(t)))
	cfg := acmeConfig(p, t.TempDir())
	cfg.HTTPListen = httpLn.Addr().String()
	n := startNode(t, cfg, tlsLn, httpLn)

	n.src.Prefetch() // as duet serve does at start
	first := n.handshake(t, p.Roots)
	if c := strings.Count(n.logs.String(), `msg="ACME HTTP-01 challenge" host=`+domain+":"+strconv.Itoa(port(httpLn))+" status=200"); c == 0 {
		t.Fatalf("no HTTP-01 challenge answered; duet logged:\n%s", n.logs.String())
	}
	n.call(t, p.Roots)

	// Anything else on the HTTP port for the domain goes to https on the
	// TLS port; for a host the certificate is not for, nowhere.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]string{
		domain:      "https://" + domain + ":" + strconv.Itoa(port(tlsLn)) + "/?room=r1",
		"127.0.0.1": "",
	} {
		req, _ := http.NewRequest("GET", "http://"+httpLn.Addr().String()+"/?room=r1", nil)
		req.Host = host
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		code := http.StatusPermanentRedirect
		if want == "" {
			code = http.StatusMisdirectedRequest
		}
		if resp.StatusCode != code || resp.Header.Get("Location") != want {
			t.Fatalf("http GET / for %s: %d Location %q, want %d %q", host, resp.StatusCode, resp.Header.Get("Location"), code, want)
		}
	}

	n.waitRenewal(t, p.Roots, first)
	if c := strings.Count(n.logs.String(), "ACME HTTP-01 challenge"); c < 2 {
		t.Fatalf("want HTTP-01 challenges for the issuance and the renewal, got %d", c)
	}
}

func acmeConfig(p *pebble, dataDir string) config.Config {
	cfg := config.Default()
	cfg.TLSACMEDomains = []string{domain}
	cfg.TLSACMEEmail = "ops@duet.test"
	cfg.TLSACMECA = p.DirectoryURL
	cfg.TLSACMECARoot = p.CARootFile
	cfg.DataDir = dataDir
	cfg.DrainTimeout = 2 * time.Second
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

// node is a duet server with ACME certificates, serving on listeners the
// test bound before the CA was told their ports.
type node struct {
	src  *certs.Source
	addr string
	logs *syncbuf.Buffer
	stop func(*testing.T)
}

func startNode(t *testing.T, cfg config.Config, tlsLn, httpLn net.Listener) *node {
	t.Helper()
	n := &node{logs: &syncbuf.Buffer{}, addr: tlsLn.Addr().String()}
	log := slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	if n.src, err = certs.New(cfg, certs.Options{Logger: log}); err != nil {
		t.Fatal(err)
	}
	if n.src.HSTS != "max-age=31536000" {
		t.Errorf("HSTS with ACME = %q, want a year by default", n.src.HSTS)
	}
	srv, err := server.New(cfg, server.Options{Logger: log, TLS: n.src.TLS, HSTS: n.src.HSTS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, tlsLn) }()
	var hs *http.Server
	if httpLn != nil {
		hs = &http.Server{Handler: n.src.HTTPHandler(srv.RedirectHandler(n.addr)), ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(httpLn)
	}
	stopped := false
	n.stop = func(t *testing.T) {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if hs != nil {
			hs.Close()
		}
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// handshake connects as a client that trusts only Pebble's root and
// returns the certificate the server showed.
func (n *node) handshake(t *testing.T, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	// No dialer timeout: tls.Dialer would apply it to the whole handshake,
	// and the first handshake waits for the issuance (ctx bounds it).
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: &tls.Config{ServerName: domain, RootCAs: roots}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", n.addr)
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v\nduet logged:\n%s", n.addr, err, n.logs.String())
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

// call pairs two WebSocket clients over wss:// and relays an offer.
func (n *node) call(t *testing.T, roots *x509.CertPool) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{ServerName: domain, RootCAs: roots}, HandshakeTimeout: 10 * time.Second}
	dial := func() *wstest.Client {
		ws, _, err := d.Dial("wss://"+n.addr+"/live/websocket", nil)
		if err != nil {
			t.Fatalf("dial wss: %v", err)
		}
		t.Cleanup(func() { ws.Close() })
		return &wstest.Client{T: t, WS: ws}
	}
	a, b := dial(), dial()
	room := "acme" + strconv.FormatInt(time.Now().UnixNano(), 36)
	wstest.Pair(a, b, room)
	a.Send(wstest.Msg{"command": "takeConfiguration", "streamId": room, "type": "offer", "sdp": "v=0"})
	if m := b.Expect("takeConfiguration", ""); m.Str("sdp") != "v=0" {
		t.Fatalf("relayed %v", m)
	}
	a.WS.Close()
	b.WS.Close()
}

// waitRenewal waits until the server shows a certificate other than old,
// valid for longer, and returns it.
func (n *node) waitRenewal(t *testing.T, roots *x509.CertPool, old *x509.Certificate) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(validity + 30*time.Second)
	for {
		c := n.handshake(t, roots)
		if !c.Equal(old) {
			if !c.NotAfter.After(old.NotAfter) {
				t.Fatalf("renewed certificate ends %s, before the old one (%s)", c.NotAfter, old.NotAfter)
			}
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate (until %s) not renewed by %s; duet logged:\n%s", old.NotAfter, time.Now(), n.logs.String())
		}
		time.Sleep(250 * time.Millisecond) // the polling interval of a condition wait
	}
}

// storedCert reads the certificate autocert keeps for domain in data_dir.
func storedCert(t *testing.T, cfg config.Config) *x509.Certificate {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "acme", "*", domain))
	if len(files) != 1 {
		t.Fatalf("data_dir holds %v for %s", files, domain)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			t.Fatalf("no certificate in %s", files[0])
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// deadListener accepts connections and closes them at once: a port where
// a challenge fails.
func deadListener(t *testing.T) net.Listener {
	t.Helper()
	ln := listen(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }
