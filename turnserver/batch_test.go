package turnserver

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

func udpPair(t *testing.T) (*net.UDPConn, *net.UDPConn) {
	t.Helper()
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestBatchConnReads: datagrams that queued up are read in batches and
// handed out one by one, each with its own bytes and sender.
func TestBatchConnReads(t *testing.T) {
	a, _ := udpPair(t)
	bc := newBatchConn(a)
	t.Cleanup(func() { bc.Close() })
	senders := make([]*net.UDPConn, 3)
	for i := range senders {
		_, senders[i] = udpPair(t)
	}
	const each = 100
	for k := range each {
		for i, s := range senders {
			if _, err := s.WriteTo([]byte(fmt.Sprintf("%d:%d", i, k)), a.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := make([]int, len(senders))
	most := 0
	buf := make([]byte, 1600)
	bc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range each * len(senders) {
		n, from, err := bc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, bc.have)
		var i, k int
		fmt.Sscanf(string(buf[:n]), "%d:%d", &i, &k)
		if from.String() != senders[i].LocalAddr().String() || k != next[i] {
			t.Fatalf("got %q from %v; want %d:%d from %v", buf[:n], from, i, next[i], senders[i].LocalAddr())
		}
		next[i]++
	}
	if most < 2 {
		t.Fatal("every read took one datagram: no batching")
	}
}

// TestBatchConnWrites: datagrams written by many goroutines at once all
// arrive, whether sent by their own writer or by one that was sending.
func TestBatchConnWrites(t *testing.T) {
	a, dst := udpPair(t)
	dst.SetReadBuffer(4 << 20)
	bc := newBatchConn(a)
	t.Cleanup(func() { bc.Close() })
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				if _, err := bc.WriteTo([]byte(fmt.Sprintf("%d:%d", w, k)), dst.LocalAddr()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	seen := map[string]bool{}
	buf := make([]byte, 64)
	dst.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(seen) < writers*each {
		n, _, err := dst.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(seen), writers*each, err)
		}
		seen[string(buf[:n])] = true
	}
	wg.Wait()
}
