package certs_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
)

// fakeClock is a clock a test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tlsNode serves TLS handshakes with the configuration of a Source made
// from cfg, until the test ends.
func tlsNode(t *testing.T, cfg config.Config, clock *fakeClock) string {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	src, err := certs.New(cfg, certs.Options{Now: clock.now, Hosts: func() certs.Hosts { return certs.Hosts{Names: []string{"localhost"}} }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", src.TLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Write([]byte("x")) // TLS 1.3 tickets go out with the first flight; one read takes them
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// resumed makes a handshake to addr with the client's session cache and
// reports whether it resumed a session.
func resumed(t *testing.T, addr string, cache tls.ClientSessionCache) bool {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", ClientSessionCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Read(make([]byte, 1))
	return c.ConnectionState().DidResume
}

func ticketConfig(dataDir string) config.Config {
	cfg := config.Default()
	cfg.TLSSelfSigned = true
	cfg.DataDir = dataDir
	return cfg
}

// TestSessionsResumeAfterRestart: the ticket secret kept in data_dir lets a
// client resume the session it had before the server restarted, so a
// restart's reconnect storm costs resumed handshakes.
func TestSessionsResumeAfterRestart(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	dir := t.TempDir()
	cache := tls.NewLRUClientSessionCache(8)
	first := tlsNode(t, ticketConfig(dir), clock)
	if resumed(t, first, cache) {
		t.Fatal("the first handshake resumed")
	}
	if !resumed(t, first, cache) {
		t.Fatal("a second handshake to the same process did not resume")
	}
	if _, err := os.Stat(filepath.Join(dir, "tls", "session-ticket.secret")); err != nil {
		t.Fatal(err)
	}
	restarted := tlsNode(t, ticketConfig(dir), clock)
	if !resumed(t, restarted, cache) {
		t.Fatal("no resumption after a restart with the same data_dir")
	}
	other := tlsNode(t, ticketConfig(t.TempDir()), clock)
	if resumed(t, other, cache) {
		t.Fatal("a server with another secret resumed the session")
	}
}

// TestSessionsResumeAcrossNodes: nodes given the same secret file resume
// each other's sessions.
func TestSessionsResumeAcrossNodes(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	secret := filepath.Join(t.TempDir(), "ticket.secret")
	os.WriteFile(secret, []byte("a secret shared by the cluster's nodes"), 0o600)
	var nodes []string
	for range 2 {
		cfg := ticketConfig(t.TempDir())
		cfg.TLSTicketSecretFile = secret
		nodes = append(nodes, tlsNode(t, cfg, clock))
	}
	cache := tls.NewLRUClientSessionCache(8)
	resumed(t, nodes[0], cache)
	if !resumed(t, nodes[1], cache) {
		t.Fatal("node 2 did not resume node 1's session")
	}
	os.WriteFile(secret, []byte("short"), 0o600)
	cfg := ticketConfig(t.TempDir())
	cfg.TLSTicketSecretFile = secret
	if _, err := certs.New(cfg, certs.Options{}); err == nil {
		t.Fatal("a 5-byte ticket secret was accepted")
	}
}

// TestTicketKeysRotate: after a rotation new tickets use a new key and
// those of the old one still resume; a week later they do not.
func TestTicketKeysRotate(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	cfg := ticketConfig(t.TempDir())
	cfg.TLSTicketRotation = time.Hour
	addr := tlsNode(t, cfg, clock)
	old := tls.NewLRUClientSessionCache(8)
	resumed(t, addr, old) // a ticket under this hour's key

	clock.add(3 * time.Hour)
	if !resumed(t, addr, old) {
		t.Fatal("a ticket of three rotations ago no longer resumes")
	}
	fresh := tls.NewLRUClientSessionCache(8)
	resumed(t, addr, fresh)
	clock.add(time.Hour)
	if !resumed(t, addr, fresh) {
		t.Fatal("a ticket of the key before does not resume")
	}

	stale := tls.NewLRUClientSessionCache(8)
	resumed(t, addr, stale)
	clock.add(8 * 24 * time.Hour)
	if resumed(t, addr, stale) {
		t.Fatal("a ticket whose key ended more than a week ago resumed")
	}
}
