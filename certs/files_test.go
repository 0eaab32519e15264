package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
)

// writePair writes a certificate with serial and its key as PEM files.
func writePair(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "files"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	// key first, as a tool that replaces both would, and the certificate
	// last: in between, the pair does not match.
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// TestFileCertificateReloaded: files replaced under a running server (by
// certbot or a Kubernetes Secret update) are served without a restart; a
// pair that does not match yet keeps the old certificate in service.
func TestFileCertificateReloaded(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePair(t, certFile, keyFile, 1)
	cfg := config.Default()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	src, err := certs.New(cfg, certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Mode != config.TLSFiles || src.HSTS != "" {
		t.Fatalf("mode %s HSTS %q", src.Mode, src.HSTS)
	}
	serial := func() int64 {
		c, err := src.TLS.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		return leaf.SerialNumber.Int64()
	}
	if serial() != 1 {
		t.Fatal("first certificate not served")
	}

	// Only the key changed so far: the pair does not load.
	other := filepath.Join(dir, "other.crt")
	writePair(t, other, keyFile, 2)
	for until := time.Now().Add(1500 * time.Millisecond); time.Now().Before(until); { // longer than a recheck
		if serial() != 1 {
			t.Fatal("a mismatched pair replaced the certificate")
		}
		time.Sleep(100 * time.Millisecond) // the polling interval of a condition wait
	}
	os.Rename(other, certFile)
	deadline := time.Now().Add(10 * time.Second)
	for serial() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("replaced certificate not served within 10 s")
		}
		time.Sleep(50 * time.Millisecond) // the polling interval of a condition wait
	}

	os.Remove(keyFile)
	if _, err := certs.New(cfg, certs.Options{}); err == nil {
		t.Fatal("a missing key file did not fail the start")
	}
}
