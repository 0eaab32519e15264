package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/duet-rtc/duet/hub"
)

// TestLinkResyncsAfterReceiverLostState: a receiver that forgot a link
// (it had declared the sender dead) asks for messages the sender no
// longer holds, since they were acknowledged; the sender tells it where to
// start, and what it holds gets through.
func TestLinkResyncsAfterReceiverLostState(t *testing.T) {
	e, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	a, err := New(context.Background(), Options{URL: e.URL(), NodeID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(context.Background(), Options{URL: e.URL(), NodeID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	k := hub.Key{App: "live", Stream: "s"}
	send := func() {
		a.out.send(b.inc, msgFrame, nil, k, 64, func(buf []byte) []byte {
			return frameBody(buf, 1, memberID(a.inc, 1), k, hub.Lend([]byte(`{}`)))
		})
	}
	next := func() uint64 {
		b.in.mu.Lock()
		defer b.in.mu.Unlock()
		if l := b.in.links[a.inc]; l != nil {
			return l.next
		}
		return 0
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond) // the polling interval of a condition wait
		}
	}
	for range 5 {
		send()
	}
	waitFor("five messages acknowledged", func() bool { return next() == 6 && a.out.held() == 0 })

	b.in.mu.Lock()
	delete(b.in.links, a.inc) // b forgets the link
	b.in.mu.Unlock()
	send() // number 6: b sees a gap from 1
	waitFor("the link to resync", func() bool { return next() == 7 && a.out.held() == 0 })
}
