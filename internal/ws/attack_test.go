package ws

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
)

// TestAttackBurstParksAtOnce is issue #13's attack on a real listener: many
// sockets each send a header announcing 262,000 bytes and one byte of it,
// all at once. Each reader must park as soon as it has read those bytes,
// so that the burst never holds more than a few read buffers at a time
// and, once over, none (and no goroutine).
func TestAttackBurstParksAtOnce(t *testing.T) {
	e, url, conns := serve(t, Options{})
	if !e.Polling() {
		t.Skip("no poller on this system")
	}
	addr := url[len("ws://"):]
	hdr := frame(true, OpText, make([]byte, 262000))[:15]
	var ncs []net.Conn
	var recs []*recorder
	for range 500 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(nc), nil); err != nil || resp.StatusCode != 101 {
			t.Fatalf("handshake: %v %v", resp, err)
		}
		ncs = append(ncs, nc)
		recs = append(recs, <-conns)
	}
	for _, nc := range ncs {
		nc.Write(hdr)
	}
	held := 0 // bytes the parked sockets hold for what they sent
	waitFor(t, "every attacking socket parked with its byte", func() bool {
		held = 0
		for _, r := range recs {
			r.c.mu.Lock()
			ok := r.c.parked && r.c.p.stream
			if ok {
				held = max(held, cap(r.c.p.msg))
			}
			r.c.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	})
	if n := e.borrowed.Load(); n != 0 {
		t.Errorf("%d read buffers still borrowed", n)
	}
	if m := e.maxBorrowed.Load(); m > 50 {
		t.Errorf("the burst held %d read buffers at once", m)
	}
	if held > 64 {
		t.Fatalf("a socket holds %d bytes for the one it sent", held)
	}
	t.Logf("at most %d read buffers at once for %d sockets", e.maxBorrowed.Load(), len(recs))
}
