package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestRestartSameNodeID is issue 14's first case: a node crashes and is
// restarted at once under the same node_id, as systemd or Kubernetes do,
// well within node_dead_after. Its previous life must be cleaned up: the
// partner on another node gets stop, rooms of ghosts take new peers, and
// no new socket inherits a dead member's identity (answers its probes).
func TestRestartSameNodeID(t *testing.T) {
	ns := startNATS(t)
	n1, n2 := startNode(t, ns.URL(), "n1"), startNode(t, ns.URL(), "n2")

	a, b := wstest.Dial(t, n1.URL("live")), wstest.Dial(t, n2.URL("live"))
	wstest.Pair(a, b, "call") // a on the survivor, b on the node that dies
	lonely := wstest.Dial(t, n2.URL("live"))
	wstest.Join(lonely, "lonely")
	lonely.Expect("notification", "joined")
	p, q := wstest.Dial(t, n2.URL("live")), wstest.Dial(t, n2.URL("live"))
	wstest.Pair(p, q, "inner") // both members on the node that dies
	got := a.Collect()

	// The crash: the NATS connection goes without a goodbye, the sockets
	// with it; then the same node id starts again.
	crashed := time.Now()
	n2.cl.Abort()
	for _, c := range []*client{b, lonely, p, q} {
		c.WS.Close()
	}
	go n2.Stop(t)
	n2b := startNode(t, ns.URL(), "n2")

	m := wstest.Next(t, got, 5*time.Second)
	if m.Str("command") != "stop" || m.Str("streamId") != "call" {
		t.Fatalf("partner of the crashed node got %v, want stop", m)
	}
	t.Logf("partner got stop %v after the crash", time.Since(crashed))

	// New sockets on the restarted node: whatever ids they get, none may
	// stand in for a member of the previous life.
	var fresh []*client
	for i := range 6 {
		c := wstest.Dial(t, n2b.URL("live"))
		wstest.Join(c, fmt.Sprintf("fresh%d", i))
		c.Expect("notification", "joined")
		c.KeepReading()
		fresh = append(fresh, c)
	}

	// A room full of ghosts takes a new peer, who waits...
	w := wstest.Dial(t, n1.URL("live"))
	wstest.Join(w, "inner")
	if m := w.Read(); m.Str("definition") != "joined" {
		t.Fatalf("joiner of a room of ghosts got %v, want joined", m)
	}
	// ...and pairs with the next one, getting start (no ghost partner).
	x := wstest.Dial(t, n2b.URL("live"))
	wstest.Join(x, "inner")
	x.Expect("notification", "joined")
	w.Expect("start", "")

	// A room whose only member was a ghost: the next joiner waits and the
	// one after pairs with it.
	y, z := wstest.Dial(t, n2b.URL("live")), wstest.Dial(t, n1.URL("live"))
	wstest.Join(y, "lonely")
	y.Expect("notification", "joined")
	wstest.Join(z, "lonely")
	if m := z.Read(); m.Str("definition") != "joined" {
		t.Fatalf("second joiner of the ghost's room got %v, want joined", m)
	}
	y.Expect("start", "")
	z.Send(msg{"command": "takeCandidate", "streamId": "lonely", "label": 0, "id": "0", "candidate": "c"})
	y.Expect("takeCandidate", "")

	// The survivor's room pairs again, with a peer on the restarted node.
	v := wstest.Dial(t, n2b.URL("live"))
	wstest.Join(v, "call")
	v.Expect("notification", "joined")
	if m := wstest.Next(t, got, 5*time.Second); m.Str("command") != "start" {
		t.Fatalf("survivor got %v, want start", m)
	}
	_ = fresh
}

// TestSameNodeIDTwice: a second process starts with a node_id that a live
// one has (a misconfiguration). The older stops taking joins and drops
// its sockets, so that their clients rejoin where they can be served.
func TestSameNodeIDTwice(t *testing.T) {
	ns := startNATS(t)
	old, other := startNode(t, ns.URL(), "twin"), startNode(t, ns.URL(), "n2")
	a, b := wstest.Dial(t, old.URL("live")), wstest.Dial(t, other.URL("live"))
	wstest.Pair(a, b, "r")
	startNode(t, ns.URL(), "twin")
	if code, _ := a.Closed(); code != 1006 {
		t.Fatalf("socket on the superseded node closed with %d, want dropped", code)
	}
	b.Expect("stop", "")
	wstest.Eventually(t, "the superseded node to say not ready", func() bool { return readyz(t, old) == 503 })
	c := wstest.Dial(t, old.URL("live"))
	wstest.Join(c, "s")
	c.Expect("error", "serviceUnavailable")
}
