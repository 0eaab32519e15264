package turnserver_test

import (
	"net"
	"testing"
	"time"
)

// BenchmarkRelay relays datagrams both ways through the embedded server:
// a peer socket to a pion client's allocation and back. Each op is one
// datagram each way; allocs/op counts the client's and the peer's with
// the server's (the same in every version, so a change in allocs/op is
// the server's).
//
//	go test -run '^$' -bench Relay -benchmem ./turnserver
func BenchmarkRelay(b *testing.B) {
	e := start(b, allowLoopback)
	user, pass := minted(time.Hour)
	c := e.client(b, user, pass, false)
	relay, err := c.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	defer relay.Close()
	p, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	msg := make([]byte, 1200)
	buf := make([]byte, 1600)
	// The first write creates the permission (and a channel binding).
	if _, err := relay.WriteTo(msg, p.LocalAddr()); err != nil {
		b.Fatal(err)
	}
	p.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := p.ReadFrom(buf); err != nil {
		b.Fatal(err)
	}
	relay.SetReadDeadline(time.Now().Add(time.Minute))
	p.SetReadDeadline(time.Now().Add(time.Minute))
	b.SetBytes(2 * int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := p.WriteTo(msg, relay.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := relay.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := relay.WriteTo(msg, p.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := p.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
}
