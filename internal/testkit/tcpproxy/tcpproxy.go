// Package tcpproxy is a TCP relay on loopback in front of a duet server, for
// tests: it can cut every relayed connection (a network drop), leave them
// half-open (a phone that changed networks: the server keeps a socket that
// never answers again), silence them (nothing closes, nothing passes), and
// send new connections to another server (a deploy).
package tcpproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy relays connections to a backend address.
type Proxy struct {
	ln net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	backend string
	pairs   []*pair
	dials   int
}

// pair is one relayed connection.
type pair struct {
	client, server net.Conn
	frozen         bool        // half-open: the server side stays open; guarded by Proxy.mu
	silent         atomic.Bool // Silence: bytes are dropped both ways, nothing is closed
}

// Start runs a proxy to backend on 127.0.0.1:0 until the test ends.
func Start(t testing.TB, backend string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.mu.Lock()
		for _, pr := range p.pairs {
			pr.server.Close() // also the ones left half-open
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the WebSocket URL of app through the proxy.
func (p *Proxy) URL(app string) string { return "ws://" + p.Addr() + "/" + app + "/websocket" }

// SetBackend sends new connections to another server.
func (p *Proxy) SetBackend(addr string) {
	p.mu.Lock()
	p.backend = addr
	p.mu.Unlock()
}

// Connections is how many client connections the proxy has accepted.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}

// Cut closes every relayed connection on both sides, as a network drop the
// server notices at once.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.pairs {
		pr.client.Close()
		pr.server.Close()
	}
	p.pairs = nil
}

// HalfOpen closes the client sides only and stops relaying: the server
// keeps a socket that never answers again and learns of it only by
// probing.
func (p *Proxy) HalfOpen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.pairs {
		pr.frozen = true
		pr.client.Close()
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		p.mu.Lock()
		backend := p.backend
		p.dials++
		p.mu.Unlock()
		s, err := net.Dial("tcp", backend)
		if err != nil {
			c.Close()
			continue
		}
		pr := &pair{client: c, server: s}
		p.mu.Lock()
		p.pairs = append(p.pairs, pr)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { // server → client
			defer p.wg.Done()
			io.Copy(unlessSilent{c, pr}, s)
			c.Close()
		}()
		go func() { // client → server
			defer p.wg.Done()
			io.Copy(unlessSilent{s, pr}, c)
			p.mu.Lock()
			frozen := pr.frozen
			p.mu.Unlock()
			if !frozen {
				s.Close()
			}
		}()
	}
}

// Silence stops relaying on every connection, both ways, without closing
// anything: a network that went quiet. Neither end learns of it but by
// its own timeouts.
func (p *Proxy) Silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.pairs {
		pr.silent.Store(true)
	}
}

// unlessSilent writes to w unless its pair was silenced.
type unlessSilent struct {
	w  io.Writer
	pr *pair
}

func (u unlessSilent) Write(b []byte) (int, error) {
	if u.pr.silent.Load() {
		return len(b), nil
	}
	return u.w.Write(b)
}
