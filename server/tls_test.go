package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/wstest"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/config"
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
