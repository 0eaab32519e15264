package server

import (
	"net"
	"testing"
	"time"
)

// gatePair is a gate of size places with one held connection over real
// loopback TCP; peer is its client's end.
func gatePair(t *testing.T, size int) (g *gate, gc *gateConn, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g = newGate(ln, size, time.Second)
	t.Cleanup(func() { g.Close() })
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c, err := g.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return g, c.(*gateConn), peer
}

// TestGateSparesConnectionsThatLeft: a connection found stale, whose
// client then sends what its server waited for and which leaves the gate
// upgraded before the gate gets round to closing it, stays open. (In a
// reconnect storm the accepting goroutine that expires connections waits
// long for the CPU; closing such a socket after it had joined held its
// seat until the grace ran out, and its partner got stop.)
func TestGateSparesConnectionsThatLeft(t *testing.T) {
	g, gc, peer := gatePair(t, 1)
	gc.waiting.Store(time.Now().Add(-time.Minute).UnixNano()) // its server waits for it
	cut := time.Now().Add(-g.stale).UnixNano()
	old := g.staleConns(cut)
	if len(old) != 1 || old[0] != gc {
		t.Fatalf("stale connections: %v, want the one held", old)
	}
	// Its request arrives and it is upgraded: it leaves the gate.
	gc.waiting.Store(0)
	gc.release()
	g.closeStale(old, cut)
	if _, err := gc.Write([]byte("joined")); err != nil {
		t.Fatalf("the gate closed a connection that had left it: %v", err)
	}
	buf := make([]byte, 6)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := peer.Read(buf); err != nil || string(buf[:n]) != "joined" {
		t.Fatalf("client read %q %v", buf[:n], err)
	}
	if len(g.slots) != 0 {
		t.Fatalf("%d places held after the connection left", len(g.slots))
	}
}

// TestGateClosesStaleConnections: a connection whose server has waited
// for its client for longer than stale is closed and gives back its
// place; one whose server waits for nothing, or not for that long, stays.
func TestGateClosesStaleConnections(t *testing.T) {
	g, gc, peer := gatePair(t, 2)
	cut := time.Now().Add(-g.stale).UnixNano()
	g.closeStale(g.staleConns(cut), cut) // nothing waits
	gc.waiting.Store(time.Now().UnixNano())
	g.closeStale(g.staleConns(cut), cut) // it waits, but not for long
	if gc.left.Load() {
		t.Fatal("a connection that was not stale was closed")
	}
	gc.waiting.Store(time.Now().Add(-time.Minute).UnixNano())
	g.closeStale(g.staleConns(cut), cut)
	if !gc.left.Load() || len(g.slots) != 0 {
		t.Fatal("the stale connection kept its place")
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stale connection is still open")
	}
	gc.release() // the server lets go of it: no second place given back
	if len(g.slots) != 0 {
		t.Fatalf("%d places after a second release", len(g.slots))
	}
}
