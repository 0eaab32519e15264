package client_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// proxy is a TCP relay on loopback between clients and a duet server, so
// that a test can take a client's signaling socket away.
type proxy struct {
	ln net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	backend string
	pairs   []*pair
}

// pair is one relayed connection.
type pair struct {
	client, server net.Conn
	frozen         bool // half-open: the server side stays open; guarded by proxy.mu
}

func startProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.mu.Lock()
		for _, pr := range p.pairs {
			pr.server.Close() // also the ones left half-open
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// url is the WebSocket URL of app through the proxy.
func (p *proxy) url(app string) string {
	return "ws://" + p.ln.Addr().String() + "/" + app + "/websocket"
}

// setBackend sends new connections to another server.
func (p *proxy) setBackend(addr string) {
	p.mu.Lock()
	p.backend = addr
	p.mu.Unlock()
}

// cut closes every relayed connection on both sides, as a network drop the
// server notices at once.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.pairs {
		pr.client.Close()
		pr.server.Close()
	}
	p.pairs = nil
}

// halfOpen closes the client sides only and stops relaying: the server
// keeps a socket that never answers again, like a phone that changed
// networks. It learns of it only by probing.
func (p *proxy) halfOpen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.pairs {
		pr.frozen = true
		pr.client.Close()
	}
}

func (p *proxy) accept() {
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
			io.Copy(c, s)
			c.Close()
		}()
		go func() { // client → server
			defer p.wg.Done()
			io.Copy(s, c)
			p.mu.Lock()
			frozen := pr.frozen
			p.mu.Unlock()
			if !frozen {
				s.Close()
			}
		}()
	}
}
