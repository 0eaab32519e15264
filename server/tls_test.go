package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

// TestTLS serves wss:// from a certificate file and makes a call's first
// steps over it.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	s := startSingle(t, func(c *config.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	url := strings.Replace(s.URL("live"), "ws://", "wss://", 1)
	dialTLS := func() *client {
		ws, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		t.Cleanup(func() { ws.Close() })
		return &client{T: t, WS: ws}
	}
	a, b := dialTLS(), dialTLS()
	wstest.Pair(a, b, "secure")
	a.Send(msg{"command": "takeConfiguration", "streamId": "secure", "type": "offer", "sdp": "v=0"})
	if m := b.Expect("takeConfiguration", ""); m.Str("sdp") != "v=0" {
		t.Fatalf("got %v", m)
	}
	// Plain ws:// to a TLS port fails.
	if _, _, err := websocket.DefaultDialer.Dial(s.URL("live"), nil); err == nil {
		t.Fatal("plain WebSocket accepted on a TLS port")
	}
}

// TestTLSRecordLayer: the wss:// sockets of TLS 1.3 clients are served by
// duet's own record layer after their upgrade (so that they park when
// idle), those of TLS 1.2 clients by crypto/tls; calls work on both, and
// between the two.
func TestTLSRecordLayer(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	c := testserver.Config()
	c.TLSCert, c.TLSKey = certFile, keyFile
	reg := prometheus.NewRegistry()
	s := testserver.Start(t, c, server.Options{Registry: reg})
	url := strings.Replace(s.URL("live"), "ws://", "wss://", 1)
	dial := func(maxVersion uint16) *client {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: maxVersion}}
		ws, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		t.Cleanup(func() { ws.Close() })
		return &client{T: t, WS: ws}
	}
	for i, v := range [][2]uint16{{tls.VersionTLS13, tls.VersionTLS13}, {tls.VersionTLS12, tls.VersionTLS12}, {tls.VersionTLS13, tls.VersionTLS12}} {
		a, b := dial(v[0]), dial(v[1])
		room := fmt.Sprintf("tls-%d", i)
		wstest.Pair(a, b, room)
		offer := strings.Repeat("v=0 ", 5000) // over several TLS records
		a.Send(msg{"command": "takeConfiguration", "streamId": room, "type": "offer", "sdp": offer})
		if m := b.Expect("takeConfiguration", ""); m.Str("sdp") != offer {
			t.Fatalf("%v: offer of %d bytes arrived as %d", v, len(offer), len(m.Str("sdp")))
		}
		b.Send(msg{"command": "takeConfiguration", "streamId": room, "type": "answer", "sdp": "v=0"})
		a.Expect("takeConfiguration", "")
	}
	// A resumed session is taken over too.
	cache := tls.NewLRUClientSessionCache(4)
	for i := range 2 {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", ClientSessionCache: cache}}
		ws, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := &client{T: t, WS: ws}
		a.Send(msg{"command": "join", "streamId": fmt.Sprintf("resumed-%d", i)})
		a.Expect("notification", "joined")
		ws.Close()
	}
	for _, c := range []struct {
		layer, resumed string
		want           float64
	}{{"tlsrec", "false", 4}, {"tlsrec", "true", 1}, {"crypto_tls", "false", 3}} {
		if got := counter(t, reg, "duet_tls_websockets_total", "layer", c.layer, "resumed", c.resumed); got != c.want {
			t.Errorf("%s sockets, resumed %s: %v, want %v", c.layer, c.resumed, got, c.want)
		}
	}
}

// counter reads one sample of a counter vector from reg; labels are
// name, value pairs.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}

func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "duet test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("2001:db8::1")},
		DNSNames:     []string{"call.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
