package cluster_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestRelayAcrossNATSOutage is issue 14's fifth case: NATS is gone for 3 s
// while a peer keeps sending to its partner on another node. Every frame
// must arrive, in order, after the outage, or the sender must be told
// with an error: none may vanish silently.
func TestRelayAcrossNATSOutage(t *testing.T) {
	dir := t.TempDir()
	ns, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ns.URL())
	// The receiving node reaches NATS through a proxy, so that its side of
	// the outage can last half a second longer, as when its network comes back
	// last: then the sender's node is back first and flushes what it held.
	px := tcpproxy.Start(t, u.Host)
	// Slow node deaths, so that on a busy machine the receiving node's
	// later return is never taken for a death: this test is about frames.
	slow := func(o *cluster.Options) { o.DeadAfter = 5 * time.Second }
	n := []*node{startNodeWith(t, ns.URL(), "n1", slow), startNodeWith(t, "nats://"+px.Addr(), "n2", slow)}
	a, b := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[1].URL("live"))
	wstest.Pair(a, b, "r")
	fromA, toB := a.Collect(), b.Collect()

	var mu sync.Mutex
	sent := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a steady sender: 200 candidates a second
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			frame := fmt.Sprintf(`{"command":"takeCandidate","streamId":"r","label":0,"id":"0","candidate":"c%d"}`, i)
			if a.WS.WriteMessage(1, []byte(frame)) != nil {
				return
			}
			mu.Lock()
			sent = i + 1
			mu.Unlock()
		}
	}()
	wstest.Eventually(t, "some frames before the outage", func() bool { mu.Lock(); defer mu.Unlock(); return sent > 50 })
	px.SetBackend(freeAddr(t)) // nothing listens there
	ns.Shutdown()
	<-time.After(3 * time.Second) // the outage the issue describes
	restartNATS(t, u.Host, dir, n)
	wstest.Eventually(t, "the sending node to reconnect", func() bool { return metric(t, n[0], "duet_cluster_nats_connected") == 1 })
	<-time.After(500 * time.Millisecond)
	px.SetBackend(u.Host)
	for _, nd := range n {
		wstest.Eventually(t, "the nodes to recover", func() bool { return metric(t, nd, "duet_cluster_nats_connected") == 1 })
	}
	wstest.Eventually(t, "some frames after the outage", func() bool { mu.Lock(); defer mu.Unlock(); return sent > 1000 })
	close(stop)
	<-done
	a.Send(msg{"command": "peerMessageCommand", "streamId": "r", "definition": "marker", "data": "end"})
	mu.Lock()
	total := sent
	mu.Unlock()

	next, missing := 0, 0
	for {
		m := wstest.Next(t, toB, 20*time.Second)
		if m.Str("command") == "peerMessageCommand" {
			break
		}
		if m.Str("command") != "takeCandidate" {
			t.Fatalf("partner got %v", m)
		}
		var i int
		fmt.Sscanf(strings.TrimPrefix(m.Str("candidate"), "c"), "%d", &i)
		if i < next {
			t.Fatalf("frame c%d after c%d: reordered or repeated", i, next-1)
		}
		missing += i - next
		next = i + 1
	}
	missing += total - next
	errorsToSender := 0
	for {
		select {
		case m := <-fromA:
			if m.Str("command") == "error" {
				errorsToSender++
				t.Logf("sender told: %v", m)
			}
			continue
		default:
		}
		break
	}
	t.Logf("%d frames sent, %d lost, %d errors to the sender", total, missing, errorsToSender)
	if missing > 0 && errorsToSender == 0 {
		t.Fatalf("%d of %d frames lost and the sender was told nothing", missing, total)
	}
}
