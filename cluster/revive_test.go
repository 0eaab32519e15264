package cluster_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestDeclaredDeadNodeComesBack: a node cut off long enough to be
// declared dead comes back. Its partner elsewhere got stop; its own
// socket, whose room changed meanwhile, is dropped; and relaying between
// the two nodes works again for new pairs in both directions, although
// each side's link state was reset while the other held unacknowledged
// frames.
func TestDeclaredDeadNodeComesBack(t *testing.T) {
	ns := startNATS(t)
	u, _ := url.Parse(ns.URL())
	px := tcpproxy.Start(t, u.Host)
	n1, n2 := startNode(t, ns.URL(), "n1"), startNode(t, "nats://"+px.Addr(), "n2")
	a, b := wstest.Dial(t, n1.URL("live")), wstest.Dial(t, n2.URL("live"))
	wstest.Pair(a, b, "before")
	fromB := a.Collect()
	b.Send(msg{"command": "takeCandidate", "streamId": "before", "label": 0, "id": "0", "candidate": "c0"})
	if m := wstest.Next(t, fromB, 5*time.Second); m.Str("candidate") != "c0" {
		t.Fatalf("got %v", m)
	}

	px.SetBackend(freeAddr(t)) // n2 is cut off...
	px.Cut()
	for i := 1; i <= 20; i++ { // ...while b goes on sending: n2's link holds these
		b.Send(msg{"command": "takeCandidate", "streamId": "before", "label": 0, "id": "0", "candidate": fmt.Sprintf("c%d", i)})
	}
	if m := wstest.Next(t, fromB, 10*time.Second); m.Str("command") != "stop" {
		t.Fatalf("partner of the cut-off node got %v, want stop", m)
	}
	px.SetBackend(u.Host)
	b.Closed() // its room changed while it was away
	wstest.Eventually(t, "n2 to be ready again", func() bool { return readyz(t, n2) == 200 })

	for i, nodes := range [][2]*node{{n1, n2}, {n2, n1}} {
		room := fmt.Sprintf("after%d", i)
		c, d := wstest.Dial(t, nodes[0].URL("live")), wstest.Dial(t, nodes[1].URL("live"))
		wstest.Pair(c, d, room)
		d.Send(msg{"command": "takeCandidate", "streamId": room, "label": 0, "id": "0", "candidate": "x"})
		if m := c.Read(); m.Str("candidate") != "x" {
			t.Fatalf("%s: got %v", room, m)
		}
		c.Send(msg{"command": "takeCandidate", "streamId": room, "label": 0, "id": "0", "candidate": "y"})
		if m := d.Read(); m.Str("candidate") != "y" {
			t.Fatalf("%s: got %v", room, m)
		}
	}
}
