package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// Seats held across nodes (issue #12): a resumable member whose socket,
// or whose whole node, is lost keeps its seat for the grace and takes it
// back from any node. The server's protocol suite checks every rule of
// the contract on three nodes (DUET_TEST_NODES=3); these tests check what
// only a cluster can do: a node that dies, one that drains.

// startHolding runs n nodes on one NATS server that hold seats for grace.
func startHolding(t *testing.T, n int, grace time.Duration, opts func(*cluster.Options)) []*node {
	t.Helper()
	ns := startNATS(t)
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startNodeWith(t, ns.URL(), fmt.Sprintf("n%d", i+1), func(o *cluster.Options) {
			o.ReconnectGrace = grace
			if opts != nil {
				opts(o)
			}
		})
	}
	return nodes
}

// joinResumable sends a join with a session, resumable and (if not empty)
// a resume token, and returns its joined.
func joinResumable(c *client, room, session, token string) msg {
	c.T.Helper()
	m := msg{"command": "join", "streamId": room, "session": session, "resumable": true}
	if token != "" {
		m["resumeToken"] = token
	}
	c.Send(m)
	return c.Expect("notification", "joined")
}

// pairResumable pairs a and b in room as duet's SDKs join, and returns b's
// resume token.
func pairResumable(t *testing.T, a, b *client, room string) string {
	t.Helper()
	joinResumable(a, room, "sa-"+room, "")
	jb := joinResumable(b, room, "sb-"+room, "")
	if st := a.Expect("start", ""); st.Str("peerSession") != "sb-"+room {
		t.Fatalf("start = %v", st)
	}
	if jb.Str("resumeToken") == "" || jb.Str("peerSession") != "sa-"+room {
		t.Fatalf("joined = %v", jb)
	}
	return jb.Str("resumeToken")
}

// expectResumed checks a resumed joined.
func expectResumed(t *testing.T, j msg, peerSession string) {
	t.Helper()
	if j["resumed"] != true || j.Str("resumeToken") == "" || j.Str("peerSession") != peerSession {
		t.Fatalf("joined = %v, want resumed with peerSession %s", j, peerSession)
	}
}

// candidate relays a numbered candidate from c in room.
func candidate(c *client, room string, n int) {
	c.Send(msg{"command": "takeCandidate", "streamId": room, "label": 0, "id": "0", "candidate": fmt.Sprintf("c%d", n)})
}

// expectCandidates reads candidates from..to (inclusive) in order.
func expectCandidates(t *testing.T, c *client, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if m := c.Expect("takeCandidate", ""); m.Str("candidate") != fmt.Sprintf("c%d", i) {
			t.Fatalf("got %v, want candidate c%d", m, i)
		}
	}
}

// TestHoldingNodeKilled: the node of one peer of three calls dies (its
// NATS connection cut, no goodbye, its sockets gone). In "quick" the
// client comes back on another node before the death is even noticed:
// the token takes the seat over at once, and the partner hears only
// peerReconnected. In "swept" it comes back after the survivor swept the
// dead node: the partner heard peerReconnecting (its seat held by the
// sweep), and what it relayed meanwhile reaches the new socket. In
// "plain" two Ant Media clients: the partner gets stop, reason
// nodeFailure, as before. No resumable partner ever sees stop.
func TestHoldingNodeKilled(t *testing.T) {
	n := startHolding(t, 3, 30*time.Second, nil)
	on := func(i int) *client { return wstest.Dial(t, n[i].URL("live")) }
	a1, b1 := on(0), on(1)
	tok1 := pairResumable(t, a1, b1, "swept")
	a2, b2 := on(0), on(1)
	tok2 := pairResumable(t, a2, b2, "quick")
	a3, b3 := on(0), on(1)
	wstest.Pair(a3, b3, "plain")
	got1, got2, got3 := a1.Collect(), a2.Collect(), a3.Collect()

	killed := time.Now()
	n[1].cl.Abort()
	for _, c := range []*client{b1, b2, b3} {
		c.WS.Close()
	}
	go n[1].Stop(t) // the transport goes too; its drain cannot reach NATS

	// quick: back on n3 before anyone noticed n2 died.
	q := on(2)
	expectResumed(t, joinResumable(q, "quick", "sb-quick", tok2), "sa-quick")
	if m := wstest.Next(t, got2, 5*time.Second); m.Str("definition") != "peerReconnected" {
		t.Fatalf("quick: partner got %v, want peerReconnected", m)
	}
	t.Logf("quick: seat taken back %v after the kill", time.Since(killed).Round(time.Millisecond))

	// swept: the survivor holds the dead member's seat.
	m := wstest.Next(t, got1, 5*time.Second)
	if m.Str("definition") != "peerReconnecting" || m.Str("streamId") != "swept" {
		t.Fatalf("swept: partner got %v, want peerReconnecting", m)
	}
	t.Logf("swept: partner told peerReconnecting %v after the kill", time.Since(killed).Round(time.Millisecond))
	if m := wstest.Next(t, got3, 5*time.Second); m.Str("command") != "stop" || m.Str("reason") != "nodeFailure" {
		t.Fatalf("plain: partner got %v, want stop reason nodeFailure", m)
	}
	for i := range 3 {
		candidate(a1, "swept", i)
	}
	s := on(2)
	expectResumed(t, joinResumable(s, "swept", "sb-swept", tok1), "sa-swept")
	expectCandidates(t, s, 0, 2)
	if m := wstest.Next(t, got1, 5*time.Second); m.Str("definition") != "peerReconnected" {
		t.Fatalf("swept: partner got %v, want peerReconnected", m)
	}

	// Both calls go on both ways, and the dead node's death, declared by
	// now, reaches neither partner as a stop.
	for _, x := range []struct {
		room   string
		a, b   *client
		got    <-chan msg
		offset int
	}{{"swept", a1, s, got1, 10}, {"quick", a2, q, got2, 20}} {
		candidate(x.a, x.room, x.offset)
		expectCandidates(t, x.b, x.offset, x.offset)
		candidate(x.b, x.room, x.offset+1)
		if m := wstest.Next(t, x.got, 5*time.Second); m.Str("candidate") != fmt.Sprintf("c%d", x.offset+1) {
			t.Fatalf("%s: partner got %v", x.room, m)
		}
	}
	wstest.Eventually(t, "n2 declared dead", func() bool { return metric(t, n[0], "duet_cluster_node_deaths_total") >= 1 })
	for _, x := range []struct {
		a   *client
		got <-chan msg
	}{{a1, got1}, {a2, got2}} {
		x.a.Send(msg{"command": "ping"})
		if m := wstest.Next(t, x.got, 5*time.Second); m.Str("command") != "pong" {
			t.Fatalf("a resumable partner got %v after the death", m)
		}
	}
	if r := metric(t, n[2], "duet_resumes_total"); r != 2 {
		t.Fatalf("resumes on n3 = %v, want 2", r)
	}
}

// TestDrainedNodeSeatsResumeElsewhere: a node is drained (a rolling
// restart). Its resumable clients are told server_will_stop and come back
// on other nodes: one closes its socket first (its seat is held by the
// draining node, its partner hears peerReconnecting), one joins elsewhere
// while its old socket is still open (the draining node drops that socket
// without a word to anyone), one waits alone and comes back only after
// the drained node has gone. Nobody sees stop or start.
func TestDrainedNodeSeatsResumeElsewhere(t *testing.T) {
	n := startHolding(t, 3, 30*time.Second, nil)
	on := func(i int) *client { return wstest.Dial(t, n[i].URL("live")) }
	a1, b1 := on(0), on(1)
	tok1 := pairResumable(t, a1, b1, "r1")
	a2, b2 := on(0), on(1)
	tok2 := pairResumable(t, a2, b2, "r2")
	d := on(1)
	tokD := joinResumable(d, "r3", "sd", "").Str("resumeToken")

	drained := make(chan struct{})
	go func() { n[1].Stop(t); n[1].cl.Close(); close(drained) }()
	for _, c := range []*client{b1, b2, d} {
		c.Expect("notification", "server_will_stop")
	}

	// r1: the socket closes first; the seat waits.
	b1.WS.Close()
	a1.Expect("notification", "peerReconnecting")
	candidate(a1, "r1", 1)
	c1 := on(2)
	expectResumed(t, joinResumable(c1, "r1", "sb-r1", tok1), "sa-r1")
	expectCandidates(t, c1, 1, 1)
	a1.Expect("notification", "peerReconnected")

	// r2: the new socket first; the old one is dropped by the draining node.
	c2 := on(0)
	expectResumed(t, joinResumable(c2, "r2", "sb-r2", tok2), "sa-r2")
	if code, _ := b2.Closed(); code != websocket.CloseAbnormalClosure {
		t.Fatalf("the replaced socket closed with %d, want a dropped socket", code)
	}
	a2.Expect("notification", "peerReconnected")

	// r3: the waiting member leaves with the node and comes back after it.
	d.WS.Close()
	<-drained
	d2 := on(2)
	if j := joinResumable(d2, "r3", "sd", tokD); j["resumed"] != true || j["peerSession"] != nil {
		t.Fatalf("joined = %v", j)
	}
	e := on(0)
	if j := joinResumable(e, "r3", "se", ""); j.Str("peerSession") != "sd" {
		t.Fatalf("joined = %v", j)
	}
	if st := d2.Expect("start", ""); st.Str("peerSession") != "se" {
		t.Fatalf("start = %v", st)
	}

	for _, x := range []struct {
		a, b *client
		room string
	}{{a1, c1, "r1"}, {a2, c2, "r2"}} {
		candidate(x.b, x.room, 7)
		expectCandidates(t, x.a, 7, 7)
		candidate(x.a, x.room, 8)
		expectCandidates(t, x.b, 8, 8)
		x.a.Quiet()
		x.b.Quiet()
	}
	if d := metric(t, n[0], "duet_cluster_node_deaths_total"); d != 0 {
		t.Fatalf("a drained node counted as %v deaths", d)
	}
}
