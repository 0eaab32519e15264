package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	// selfSignedLifetime stays under the 398 days Apple's platforms accept
	// for a TLS server certificate.
	selfSignedLifetime = 397 * 24 * time.Hour
	// selfSignedRenew is how long before its end a certificate is replaced.
	selfSignedRenew = 30 * 24 * time.Hour
)

// Files of the self-signed certificate under the data directory.
const (
	selfSignedDir  = "tls"
	selfSignedKey  = "self-signed.key"
	selfSignedCert = "self-signed.crt"
)

// SelfSigned is a certificate the server made for itself, for this
// machine's names and addresses. Its key and certificate are kept in the
// data directory, so a browser that accepted it once keeps accepting it
// after a restart. When a client reaches the server at a local address the
// certificate does not name (the laptop joined another network), a new
// certificate with the same key is made that names it too.
type SelfSigned struct {
	dir string
	log *slog.Logger
	now func() time.Time
	key *ecdsa.PrivateKey

	mu    sync.Mutex
	cert  *tls.Certificate
	hosts Hosts
}

// LoadSelfSigned loads the self-signed certificate kept in dataDir, or makes
// one, so that it names everything in want and is valid for at least 30
// more days.
func LoadSelfSigned(dataDir string, want Hosts, now func() time.Time, log *slog.Logger) (*SelfSigned, error) {
	s := &SelfSigned{dir: filepath.Join(dataDir, selfSignedDir), log: log, now: now}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	WarnIfShared(dataDir, log)
	WarnIfShared(s.dir, log)
	WarnIfShared(filepath.Join(s.dir, selfSignedKey), log)
	var err error
	if s.key, err = s.loadKey(); err != nil {
		return nil, err
	}
	old, err := s.loadCert()
	if err != nil {
		return nil, err
	}
	if old != nil {
		s.cert, s.hosts = old, hostsOf(old.Leaf)
		if s.fresh() && s.hosts.covers(want) {
			return s, nil
		}
		if !s.fresh() {
			s.hosts = Hosts{}
		}
	}
	if err := s.issue(s.hosts.union(want)); err != nil {
		return nil, err
	}
	return s, nil
}

// GetCertificate fits tls.Config.GetCertificate.
func (s *SelfSigned) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var extra Hosts
	if hello != nil && hello.Conn != nil {
		if ap, err := netip.ParseAddrPort(hello.Conn.LocalAddr().String()); err == nil && usable(ap.Addr()) {
			extra.IPs = []netip.Addr{ap.Addr().Unmap()}
		}
	}
	if !s.fresh() || !s.hosts.covers(extra) {
		if err := s.issue(s.hosts.union(extra)); err != nil {
			s.log.Error("could not renew the self-signed certificate; serving the old one", "err", err)
		}
	}
	return s.cert, nil
}

// Fingerprint is the SHA-256 fingerprint of the certificate, as browsers
// show it: upper-case hex bytes separated by colons.
func (s *SelfSigned) Fingerprint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fingerprint(s.cert.Leaf.Raw)
}

// Leaf is the current certificate.
func (s *SelfSigned) Leaf() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cert.Leaf
}

// Hosts are the names and addresses the current certificate is valid for.
func (s *SelfSigned) Hosts() Hosts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hosts
}

// Dir is the directory the key and certificate are kept in.
func (s *SelfSigned) Dir() string { return s.dir }

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// fresh reports whether the current certificate has 30 days or more left.
func (s *SelfSigned) fresh() bool {
	now := s.now()
	return s.cert != nil && !now.Before(s.cert.Leaf.NotBefore) && now.Add(selfSignedRenew).Before(s.cert.Leaf.NotAfter)
}

// issue makes and saves a certificate for hs with the kept key.
func (s *SelfSigned) issue(hs Hosts) error {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return err
	}
	now := s.now()
	host := "this machine"
	if len(hs.Names) > 0 {
		host = hs.Names[len(hs.Names)-1]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "duet on " + host, Organization: []string{"duet self-signed"}},
		NotBefore:             now.Add(-time.Hour), // clocks of phones run a little apart
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              hs.Names,
	}
	for _, ip := range hs.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &s.key.PublicKey, s.key)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(s.dir, selfSignedCert), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	s.cert = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: s.key, Leaf: leaf}
	s.hosts = hostsOf(leaf)
	s.log.Info("self-signed certificate made", "fingerprint", fingerprint(der), "names", hs.Names,
		"addresses", hs.IPs, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "dir", s.dir)
	return nil
}

// loadKey reads the kept key or makes and saves a new one.
func (s *SelfSigned) loadKey() (*ecdsa.PrivateKey, error) {
	name := filepath.Join(s.dir, selfSignedKey)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return key, writeFile(name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM key (remove it to make a new one)", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (remove it to make a new one)", name, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key (remove it to make a new one)", name)
	}
	return key, nil
}

// loadCert reads the kept certificate; nil when there is none or it is not
// one of the kept key (it is then replaced).
func (s *SelfSigned) loadCert() (*tls.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, selfSignedCert))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, nil
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&s.key.PublicKey) {
		return nil, nil
	}
	return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: s.key, Leaf: leaf}, nil
}

func hostsOf(c *x509.Certificate) Hosts {
	h := Hosts{Names: append([]string(nil), c.DNSNames...)}
	for _, ip := range c.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			h.IPs = append(h.IPs, a.Unmap())
		}
	}
	return h.normal()
}

// writeFile replaces name atomically.
func writeFile(name string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
