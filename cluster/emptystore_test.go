package cluster_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestNATSBackEmpty is issue 14's third case: NATS restarts having lost
// its JetStream data (a new disk, a memory store). The nodes must notice,
// recreate the bucket and serve joins again by themselves; meanwhile
// /readyz says not ready. Sockets the bucket no longer knows are handled
// cleanly: a waiting member is registered again (the next joiner pairs
// with it), a paired one is dropped so its SDK rejoins; a leave queued
// during the outage reaches its partner.
func TestNATSBackEmpty(t *testing.T) {
	ns, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ns.URL())
	n := []*node{startNode(t, ns.URL(), "n1"), startNode(t, ns.URL(), "n2")}

	a, b := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[1].URL("live"))
	wstest.Pair(a, b, "pair")
	waiting := wstest.Dial(t, n[0].URL("live"))
	wstest.Join(waiting, "wait")
	waiting.Expect("notification", "joined")
	c, leaver := wstest.Dial(t, n[1].URL("live")), wstest.Dial(t, n[0].URL("live"))
	wstest.Pair(c, leaver, "left")

	ns.Shutdown()
	for _, nd := range n {
		wstest.Eventually(t, "/readyz to say not ready during the outage", func() bool {
			return readyz(t, nd) == http.StatusServiceUnavailable
		})
	}
	leaver.Send(msg{"command": "leave", "streamId": "left"})
	leaver.Expect("notification", "leaved")

	restartNATS(t, u.Host, t.TempDir(), n)
	back := time.Now()
	for _, nd := range n {
		wstest.Eventually(t, "/readyz to say ready again", func() bool { return readyz(t, nd) == http.StatusOK })
	}
	t.Logf("ready %v after NATS came back empty", time.Since(back))

	// The queued leave reaches its partner: stop, or its socket is dropped.
	if m, err := c.TryRead(10 * time.Second); err == nil && m.Str("command") != "stop" {
		t.Fatalf("partner of the leaver got %v, want stop or a dropped socket", m)
	}
	// A paired socket is dropped: the bucket lost its pairing.
	for _, s := range []*client{a, b} {
		if m, err := s.TryRead(10 * time.Second); err == nil {
			t.Fatalf("paired socket got %v, want it dropped", m)
		}
	}
	// The waiting member is registered again: the next joiner pairs with it.
	x := wstest.Dial(t, n[1].URL("live"))
	wstest.Join(x, "wait")
	x.Expect("notification", "joined")
	waiting.Expect("start", "")
	// Every room takes new pairs.
	for _, room := range []string{"pair", "left"} {
		p, q := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[1].URL("live"))
		wstest.Pair(p, q, room)
	}
}
