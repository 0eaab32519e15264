package certs_test

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/syncbuf"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"golang.org/x/net/dns/dnsmessage"
)

// pebble is Let's Encrypt's ACME test CA, run in this process from its
// packages (as its own command wires them), on loopback :0 ports. Its
// validation authority resolves every name to 127.0.0.1 through a small
// DNS server here, and connects to the ports the test gives it for HTTP-01
// and TLS-ALPN-01.
type pebble struct {
	DirectoryURL string
	CARootFile   string         // PEM of the certificate of its HTTPS API, for tls_acme_ca_root
	Roots        *x509.CertPool // the root its issued certificates chain to
	acme         *httptest.Server
	log          *syncbuf.Buffer
}

// startPebble runs a CA whose certificates live for validity and whose
// validation authority connects to httpPort (HTTP-01) and tlsPort
// (TLS-ALPN-01) of 127.0.0.1.
func startPebble(t *testing.T, validity time.Duration, httpPort, tlsPort int) *pebble {
	t.Helper()
	logs := &syncbuf.Buffer{}
	logger := log.New(io.MultiWriter(logs, testLog{t}), "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "duet test", ValidityPeriod: uint64(validity / time.Second)}}
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, httpPort, tlsPort, false, startDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)

	p := &pebble{log: logs}
	p.acme = httptest.NewUnstartedServer(front.Handler())
	p.acme.Config.ErrorLog = logger
	p.acme.StartTLS()
	t.Cleanup(p.acme.Close)
	p.DirectoryURL = p.acme.URL + wfe.DirectoryPath
	p.CARootFile = filepath.Join(t.TempDir(), "pebble-api.pem")
	if err := os.WriteFile(p.CARootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.acme.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	mgmt := httptest.NewUnstartedServer(front.ManagementHandler())
	mgmt.Config.ErrorLog = logger
	mgmt.StartTLS()
	defer mgmt.Close()
	resp, err := mgmt.Client().Get(mgmt.URL + wfe.RootCertPath + "0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	root, _ := io.ReadAll(resp.Body)
	p.Roots = x509.NewCertPool()
	if !p.Roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble root: %s", root)
	}
	return p
}

// Shutdown stops the CA's API: clients can no longer reach it.
func (p *pebble) Shutdown() { p.acme.Close() }

// startDNS serves DNS over TCP (as pebble's validation authority asks) on
// loopback, answering A 127.0.0.1 for every name and no AAAA.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				for {
					var n uint16
					if binary.Read(c, binary.BigEndian, &n) != nil {
						return
					}
					q := make([]byte, n)
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					a := answerDNS(q)
					if a == nil {
						return
					}
					c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(a))))
					c.Write(a)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func answerDNS(query []byte) []byte {
	var m dnsmessage.Message
	if m.Unpack(query) != nil || len(m.Questions) != 1 {
		return nil
	}
	q := m.Questions[0]
	m.Header.Response, m.Header.Authoritative = true, true
	m.Answers = nil
	if q.Type == dnsmessage.TypeA {
		m.Answers = []dnsmessage.Resource{{
			Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
			Body:   &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}},
		}}
	}
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}

// testLog writes to the test's log while it runs.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	if os.Getenv("DUET_TEST_LOG") != "" {
		w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}
