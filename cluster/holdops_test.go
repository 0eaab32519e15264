package cluster_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/fakeclock"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/webhook"
)

const testGrace = 30 * time.Second

// startHoldingOps runs n nodes with the admin API and webhooks on, holding
// seats for testGrace on a manual clock.
func startHoldingOps(t *testing.T, n int, sweep time.Duration) ([]*opsNode, *hooks, *fakeclock.Clock) {
	t.Helper()
	h := newHooks()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close) // after the nodes have flushed their webhooks
	clock := new(fakeclock.Clock)
	nodes := startOpsClusterWith(t, n, hs.URL+"/duet", func(o *cluster.Options) {
		o.ReconnectGrace, o.Clock, o.HoldSweep = testGrace, clock, sweep
	})
	return nodes, h, clock
}

// events waits until the receiver has n payloads, and returns them as
// "event room member-node reason" lines, sorted, with the payloads.
func (h *hooks) events(t *testing.T, n int) ([]string, []webhook.Payload) {
	t.Helper()
	wstest.Eventually(t, fmt.Sprintf("%d webhooks", n), func() bool { return len(h.Payloads()) >= n })
	var lines []string
	ps := h.Payloads()
	for _, p := range ps {
		s := fmt.Sprintf("%s %s %s", p.Event, p.Room, p.Member.Node)
		if p.Reason != "" {
			s += " " + p.Reason
		}
		lines = append(lines, s)
	}
	sort.Strings(lines)
	return lines, ps
}

// member finds a room's member on node in a listing.
func memberIn(t *testing.T, r admin.Room, node string) webhook.Member {
	t.Helper()
	for _, m := range r.Members {
		if m.Node == node {
			return m
		}
	}
	t.Fatalf("room %s has no member on %s: %+v", r.Room, node, r.Members)
	return webhook.Member{}
}

// TestHeldSeatExpiresOnce: a call across nodes whose member is held,
// resumed on a third node, held again and never back. The hold and the
// resume are invisible to webhooks (no call_ended, no peer_left) and show
// in listings as a held, resumable member; when the grace runs out, the
// node that wrote the hold and the partner's node both try to give the
// seat up, and the partner gets exactly one stop (reason timeout), the
// receiver exactly one peer_left and one call_ended, whose call began at
// the first join.
func TestHeldSeatExpiresOnce(t *testing.T) {
	nodes, h, clock := startHoldingOps(t, 3, time.Hour)
	ctx := context.Background()
	on := func(i int) *client { return wstest.Dial(t, nodes[i].URL("live")) }
	a, b := on(0), on(1)
	tok := pairResumable(t, a, b, "r")
	callBegan := time.Now()

	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	for _, n := range nodes { // every node lists the held seat
		r, err := n.api.Room(ctx, "live", "r")
		if err != nil {
			t.Fatal(err)
		}
		if m := memberIn(t, r.Room, "n2"); !m.Held || !m.Resumable || r.State != "call" || len(r.Members) != 2 {
			t.Fatalf("listing from %s: %+v", n.cl.ID(), r.Room)
		}
	}
	b2 := on(2)
	j := joinResumable(b2, "r", "sb-r", tok)
	expectResumed(t, j, "sa-r")
	a.Expect("notification", "peerReconnected")
	r, err := nodes[0].api.Room(ctx, "live", "r")
	if err != nil {
		t.Fatal(err)
	}
	if m := memberIn(t, r.Room, "n3"); m.Held || !m.Resumable || r.CallStartedAt == nil || r.CallStartedAt.After(callBegan) {
		t.Fatalf("after the resume: %+v", r.Room)
	}

	b2.WS.Close()
	a.Expect("notification", "peerReconnecting")
	wstest.Eventually(t, "the hold written and watched", func() bool {
		var held int64
		for _, n := range nodes {
			held += n.cl.Stats().Held
		}
		return held == 1
	})
	clock.Advance(testGrace - time.Millisecond)
	a.Quiet()
	clock.Advance(time.Millisecond)
	if m := a.Expect("stop", ""); m.Str("reason") != "timeout" {
		t.Fatalf("stop = %v", m)
	}
	a.Quiet()
	clock.Advance(testGrace) // nothing is left to run out
	a.Quiet()

	want := []string{
		"call_ended r n3 timeout", "call_started r n2", "peer_joined r n1", "peer_joined r n2", "peer_left r n3 timeout",
	}
	got, ps := h.events(t, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("webhooks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var expiries int64
	for _, n := range nodes {
		expiries += n.cl.Stats().Expiries
	}
	for _, p := range ps {
		if p.Event == "call_ended" && (p.CallStartedAt == nil || p.CallStartedAt.After(callBegan) || len(p.Members) != 2 || p.Members[0].Node != "n1") {
			t.Fatalf("call_ended = %+v", p)
		}
	}
	if expiries != 1 {
		t.Fatalf("%d expiries counted over the nodes, want 1", expiries)
	}
	a.Quiet() // still exactly one stop
	wstest.Eventually(t, "no hold left", func() bool {
		var held int64
		for _, n := range nodes {
			held += n.cl.Stats().Held
		}
		return held == 0
	})
}

// TestUnwatchedHoldExpires: a resumable member waits alone on a node that
// is drained; its seat is held in the bucket with nobody left to watch it
// but the other nodes' sweep of the index of held rooms. The survivor
// lists it as held; when the grace has run out it frees the seat (one
// peer_left, reason timeout) and the room is gone from the bucket.
func TestUnwatchedHoldExpires(t *testing.T) {
	nodes, h, clock := startHoldingOps(t, 2, 50*time.Millisecond)
	ctx := context.Background()
	d := wstest.Dial(t, nodes[1].URL("live"))
	joinResumable(d, "lonely", "sd", "")
	drained := make(chan struct{})
	go func() { nodes[1].Stop(t); nodes[1].cl.Close(); close(drained) }()
	d.Expect("notification", "server_will_stop")
	d.WS.Close()
	<-drained

	rs, err := nodes[0].api.Rooms(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rooms) != 1 || rs.Rooms[0].State != "waiting" || len(rs.Rooms[0].Members) != 1 ||
		!rs.Rooms[0].Members[0].Held || rs.Rooms[0].Members[0].Node != "n2" || rs.Rooms[0].Members[0].Remote == "" {
		t.Fatalf("listing = %+v", rs.Rooms)
	}
	clock.Advance(testGrace) // its watcher is gone; the sweep gives it a second's slack
	if n := len(h.Payloads()); n != 1 {
		t.Fatalf("%d webhooks before the slack passed, want the join only", n)
	}
	clock.Advance(time.Second)
	got, _ := h.events(t, 2)
	if want := "peer_joined lonely n2\npeer_left lonely n2 timeout"; strings.Join(got, "\n") != want {
		t.Fatalf("webhooks:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	wstest.Eventually(t, "the room gone from the bucket", func() bool {
		rs, err := nodes[0].api.Rooms(ctx, "", 0)
		return err == nil && len(rs.Rooms) == 0
	})
	if e := nodes[0].cl.Stats().Expiries; e != 1 {
		t.Fatalf("expiries on the survivor = %d", e)
	}
	e := wstest.Dial(t, nodes[0].URL("live"))
	if j := joinResumable(e, "lonely", "se", ""); j["peerSession"] != nil {
		t.Fatalf("joined = %v", j) // a fresh room: nobody waits in it
	}
	e.Quiet()
}

// TestKickHeldSeat: an operator, through any node, removes a member whose
// seat is held (its socket is gone): the partner gets stop, reason
// kicked, the receiver peer_left and call_ended, and its token no longer
// takes the seat back.
func TestKickHeldSeat(t *testing.T) {
	nodes, h, _ := startHoldingOps(t, 3, time.Hour)
	ctx := context.Background()
	a, b := wstest.Dial(t, nodes[0].URL("live")), wstest.Dial(t, nodes[1].URL("live"))
	tok := pairResumable(t, a, b, "r")
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	r, err := nodes[2].api.Room(ctx, "live", "r")
	if err != nil {
		t.Fatal(err)
	}
	held := memberIn(t, r.Room, "n2")
	if err := nodes[2].api.Kick(ctx, "live", "r", held.ID); err != nil {
		t.Fatal(err)
	}
	if m := a.Expect("stop", ""); m.Str("reason") != "kicked" {
		t.Fatalf("stop = %v", m)
	}
	want := []string{"call_ended r n2 kicked", "call_started r n2", "peer_joined r n1", "peer_joined r n2", "peer_left r n2 kicked"}
	got, _ := h.events(t, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("webhooks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b2 := wstest.Dial(t, nodes[2].URL("live"))
	if j := joinResumable(b2, "r", "sb-r", tok); j["resumed"] != nil {
		t.Fatalf("a kicked seat was taken back: %v", j)
	}
	if st := a.Expect("start", ""); st.Str("peerSession") != "sb-r" {
		t.Fatalf("start = %v", st)
	}
	wstest.Eventually(t, "the hold forgotten", func() bool { return nodes[1].cl.Stats().Held == 0 })
}
