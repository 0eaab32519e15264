package certs_test

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
)

var testHosts = certs.Hosts{
	Names: []string{"localhost", "laptop", "laptop.local"},
	IPs:   []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.23")},
}

func selfSignedConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.TLSSelfSigned = true
	cfg.DataDir = dir
	return cfg
}

func newSelfSigned(t *testing.T, dir string, hosts certs.Hosts, now func() time.Time) *certs.Source {
	t.Helper()
	src, err := certs.New(selfSignedConfig(dir), certs.Options{Hosts: func() certs.Hosts { return hosts }, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestSelfSignedKeptAcrossRestarts: the certificate names the machine, fits
// what phones accept, is kept in data_dir and served again (same
// fingerprint) by the next start; no HSTS by default.
func TestSelfSignedKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	src := newSelfSigned(t, dir, testHosts, time.Now)
	if src.Mode != config.TLSSelfSigned || src.HSTS != "" {
		t.Fatalf("mode %s, HSTS %q: want self-signed without HSTS", src.Mode, src.HSTS)
	}
	leaf := src.SelfSigned.Leaf()
	if !slices.Equal(leaf.DNSNames, []string{"laptop", "laptop.local", "localhost"}) || len(leaf.IPAddresses) != 2 {
		t.Fatalf("names %v addresses %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 398*24*time.Hour || life < 390*24*time.Hour {
		t.Errorf("lifetime %s: phones refuse more than 398 days", life)
	}
	if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("IsCA %v, ExtKeyUsage %v: want a server certificate", leaf.IsCA, leaf.ExtKeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, name := range []string{"laptop.local", "192.168.1.23", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("not valid for %s: %v", name, err)
		}
	}
	fp := src.SelfSigned.Fingerprint()
	if len(fp) != 32*3-1 || strings.ToUpper(fp) != fp {
		t.Errorf("fingerprint %q", fp)
	}
	key, err := os.Stat(filepath.Join(dir, "tls", "self-signed.key"))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", key, err)
	}

	again := newSelfSigned(t, dir, testHosts, time.Now)
	if again.SelfSigned.Fingerprint() != fp {
		t.Fatal("a restart made a new certificate")
	}
	// Fewer addresses today: the kept certificate still covers them.
	fewer := certs.Hosts{Names: testHosts.Names[:1], IPs: testHosts.IPs[:1]}
	if newSelfSigned(t, dir, fewer, time.Now).SelfSigned.Fingerprint() != fp {
		t.Fatal("a start with fewer addresses made a new certificate")
	}
}

// TestSelfSignedNewNetwork: the laptop has another address now; the next
// certificate names old and new ones, with the same key.
func TestSelfSignedNewNetwork(t *testing.T) {
	dir := t.TempDir()
	first := newSelfSigned(t, dir, testHosts, time.Now).SelfSigned
	moved := testHosts
	moved.IPs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.7.9")}
	second := newSelfSigned(t, dir, moved, time.Now).SelfSigned
	if second.Fingerprint() == first.Fingerprint() {
		t.Fatal("certificate not replaced for a new address")
	}
	got := second.Hosts().IPs
	for _, want := range []string{"10.0.7.9", "192.168.1.23", "127.0.0.1"} {
		if !slices.Contains(got, netip.MustParseAddr(want)) {
			t.Errorf("new certificate lacks %s: %v", want, got)
		}
	}
	if !first.Leaf().PublicKey.(*ecdsa.PublicKey).Equal(second.Leaf().PublicKey) {
		t.Error("key changed")
	}
}

// TestSelfSignedRenewedBeforeItEnds: 30 days before the end a start makes a
// new one, and so does a handshake in a long-running process.
func TestSelfSignedRenewedBeforeItEnds(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	clock := func() time.Time { return now }
	src := newSelfSigned(t, dir, testHosts, clock)
	old := src.SelfSigned.Leaf()

	now = old.NotAfter.Add(-29 * 24 * time.Hour)
	c, err := src.TLS.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || c.Leaf.Equal(old) || !c.Leaf.NotAfter.After(old.NotAfter) {
		t.Fatalf("handshake 29 days before the end got the old certificate (err %v)", err)
	}
	restarted := newSelfSigned(t, dir, testHosts, clock)
	if !restarted.SelfSigned.Leaf().Equal(c.Leaf) {
		t.Fatal("the renewed certificate was not kept")
	}
}

// TestSelfSignedCoversTheAddressUsed: a client reaches the server at a
// local address the certificate does not name; the handshake gets one that
// names it.
func TestSelfSignedCoversTheAddressUsed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	defer ln.Close()
	src := newSelfSigned(t, t.TempDir(), testHosts, time.Now)
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		served <- tls.Server(c, src.TLS).Handshake()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	if err := leaf.VerifyHostname("127.0.0.2"); err != nil {
		t.Fatalf("certificate does not name the address used: %v", err)
	}
	if leaf.VerifyHostname("192.168.1.23") != nil {
		t.Fatal("the old addresses were dropped")
	}
}

func TestSelfSignedBadKeyIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
	os.WriteFile(filepath.Join(dir, "tls", "self-signed.key"), []byte("not a key"), 0o600)
	_, err := certs.New(selfSignedConfig(dir), certs.Options{Hosts: func() certs.Hosts { return testHosts }})
	if err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("err = %v, want one saying to remove the file", err)
	}
}

func TestDataDirDefaults(t *testing.T) {
	sd := filepath.Join(t.TempDir(), "state")
	got, err := certs.DataDir("", func(k string) string {
		if k == "STATE_DIRECTORY" {
			return sd + ":/other"
		}
		return ""
	})
	if err != nil || got != sd {
		t.Fatalf("with STATE_DIRECTORY: %q %v", got, err)
	}
	if fi, err := os.Stat(sd); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("made %v %v", fi, err)
	}
	explicit := filepath.Join(t.TempDir(), "d")
	if got, _ := certs.DataDir(explicit, func(string) string { return sd }); got != explicit {
		t.Fatalf("data_dir set: %q", got)
	}
}

func TestLocalHostsAndLANAddrs(t *testing.T) {
	h := certs.LocalHosts()
	if !slices.Contains(h.Names, "localhost") || !slices.Contains(h.IPs, netip.MustParseAddr("127.0.0.1")) {
		t.Fatalf("%+v", h)
	}
	lan := certs.LANAddrs(certs.Hosts{IPs: []netip.Addr{
		netip.MustParseAddr("fd00::2"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("192.168.1.23"), netip.MustParseAddr("10.0.0.1"),
	}})
	want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.168.1.23"), netip.MustParseAddr("fd00::2")}
	if !slices.Equal(lan, want) {
		t.Fatalf("LANAddrs = %v, want %v", lan, want)
	}
}
