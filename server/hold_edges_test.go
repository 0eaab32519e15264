package server_test

import (
	"github.com/duet-rtc/duet/hub"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestHeldBufferBound: relays for a held seat are kept up to about
// send_queue_bytes; the one that would pass it ends the hold at once, as if
// the grace ran out.
func TestHeldBufferBound(t *testing.T) {
	s := startResume(t, func(c *config.Config) { c.MaxMessageBytes, c.SendQueueBytes = 8<<10, 16<<10 })
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	_, jb := pairResumable(t, a, b, "r")
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	chunk := msg{"command": "peerMessageCommand", "streamId": "r", "definition": "d", "data": strings.Repeat("z", 4<<10)}
	for range 3 { // about 12.3 KiB of the 15.5 KiB kept
		a.Send(chunk)
	}
	a.Quiet()
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Held != 1) })
	a.Send(chunk) // past the bound
	if m := a.Expect("stop", ""); m.Str("reason") != "timeout" {
		t.Fatalf("stop = %s", keys(m))
	}
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Held != 0 || st.Expiries != 1) })
	b2 := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(b2, "r", "sb", jb.Str("resumeToken")); j["resumed"] != nil {
		t.Fatalf("resumed a seat whose hold ended: %s", keys(j))
	}
	b2.Quiet() // nothing of what was kept
}

// TestHeldWaiterGetsStart: a member held while waiting alone is still the
// waiter: a new peer's arrival is kept for it as start, and the held
// member, back, offers.
func TestHeldWaiterGetsStart(t *testing.T) {
	s := startResume(t)
	a := wstest.Dial(t, s.URL("live"))
	ja := joinResumable(a, "r", "sa", "")
	a.WS.Close()
	s.waitHeld(t, 1)
	b := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(b, "r", "sb", ""); j.Str("peerSession") != "sa" {
		t.Fatalf("joined = %s", keys(j))
	}
	a2 := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(a2, "r", "sa", ja.Str("resumeToken")); j["resumed"] != true || j.Str("peerSession") != "sb" {
		t.Fatalf("joined = %s", keys(j))
	}
	if st := a2.Expect("start", ""); st.Str("peerSession") != "sb" {
		t.Fatalf("kept start = %s", keys(st))
	}
	b.Expect("notification", "peerReconnected")
}

// TestBothHeld: both sockets are lost. When one seat expires, the stop for
// the other is kept for it; that one, back, learns its partner is gone.
func TestBothHeld(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	ja, _ := pairResumable(t, a, b, "r")
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	s.clock.Advance(testGrace / 2)
	a.WS.Close()
	s.waitHeld(t, 2)
	s.clock.Advance(testGrace / 2) // b's grace ends
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Held != 1 || st.Expiries != 1) })
	a2 := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(a2, "r", "sa", ja.Str("resumeToken")); j["resumed"] != true || j["peerSession"] != nil {
		t.Fatalf("joined = %s", keys(j))
	}
	if m := a2.Expect("stop", ""); m.Str("reason") != "timeout" {
		t.Fatalf("kept stop = %s", keys(m))
	}
	a2.Quiet()
	s.clock.Advance(testGrace)
	a2.Quiet() // a's old hold timer was cancelled by the resume
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Rooms != 1 || st.Held != 0) })
}

// TestRepeatedJoinRotatesToken: every joined carries a new token, and only
// the newest one works.
func TestRepeatedJoinRotatesToken(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	_, jb := pairResumable(t, a, b, "r")
	again := joinResumable(b, "r", "sb", "")
	if again.Str("resumeToken") == "" || again.Str("resumeToken") == jb.Str("resumeToken") || again.Str("peerSession") != "sa" {
		t.Fatalf("repeated joined = %s", keys(again))
	}
	a.Quiet() // a repeated join changes nothing for the partner
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	a.KeepReading() // answers the probe
	old := wstest.Dial(t, s.URL("live"))
	old.Send(joinMsg("r", "sb", true, jb.Str("resumeToken")))
	old.Expect("error", "NoSpaceForNewPeer") // the held seat is occupied
	b2 := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(b2, "r", "sb", again.Str("resumeToken")); j["resumed"] != true {
		t.Fatalf("joined = %s", keys(j))
	}
}

// TestTakeoverOfSocketInTwoRooms: the half-open socket of a member of two
// rooms is dropped when one seat is taken over; its seat in the other room
// is then held, and taken back the same way.
func TestTakeoverOfSocketInTwoRooms(t *testing.T) {
	s := startResume(t)
	a, c, oldB := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	_, j1 := pairResumable(t, a, oldB, "r1")
	_, j2 := pairResumable(t, c, oldB, "r2")
	b := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(b, "r1", "sb", j1.Str("resumeToken")); j["resumed"] != true {
		t.Fatalf("joined r1 = %s", keys(j))
	}
	a.Expect("notification", "peerReconnected")
	c.Expect("notification", "peerReconnecting") // the old socket was dropped: its r2 seat is held
	if j := joinResumable(b, "r2", "sb", j2.Str("resumeToken")); j["resumed"] != true {
		t.Fatalf("joined r2 = %s", keys(j))
	}
	c.Expect("notification", "peerReconnected")
	a.Quiet()
	c.Quiet()
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Resumes != 2 || st.Held != 0) })
}

// TestResumeFieldsValidated: an invalid session is ignored, a wrong type
// is invalidParameter, and a token join that is not resumable takes the
// seat back but gets no new token.
func TestResumeFieldsValidated(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	b.Send(`{"command":"join","streamId":"r","resumable":"yes"}`)
	b.Expect("error", "invalidParameter")
	b.Send(`{"command":"join","streamId":"r","session":42}`)
	b.Expect("error", "invalidParameter")
	joinResumable(a, "r", "not a valid session!", "")
	jb := joinResumable(b, "r", "sb", "")
	if jb["peerSession"] != nil {
		t.Fatalf("an invalid session reached the partner: %s", keys(jb))
	}
	if st := a.Expect("start", ""); st["peerSession"] != nil {
		t.Fatalf("start to a member whose session was invalid = %s", keys(st))
	}
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	b2 := wstest.Dial(t, s.URL("live"))
	b2.Send(joinMsg("r", "sb", false, jb.Str("resumeToken")))
	if j := b2.Expect("notification", "joined"); j["resumed"] != true || j["resumeToken"] != nil {
		t.Fatalf("joined = %s", keys(j))
	}
	a.Expect("notification", "peerReconnected")
	b2.WS.Close() // not resumable any more: leaves at once
	if m := a.Expect("stop", ""); m.Str("reason") != "closed" {
		t.Fatalf("stop = %s", keys(m))
	}
}

// TestDrainEndsHolds: a server that drains takes its held seats with it:
// no timer outlives it.
func TestDrainEndsHolds(t *testing.T) {
	if clustered() {
		t.Skip("one server's drain, run in the one-node pass; a cluster node's drain leaves its held seats in the bucket for the others (cluster: TestDrainedNodeSeatsResumeElsewhere)")
	}
	s := startSingle(t, func(c *config.Config) { c.ReconnectGrace = time.Hour })
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	pairResumable(t, a, b, "r")
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	a.WS.Close()
	wstest.Eventually(t, "both seats held", func() bool { return s.nodes[0].Rooms().Stats().Held == 2 })
	s.Stop(t)
	if st := s.nodes[0].Rooms().Stats(); st.Held != 0 || st.Rooms != 0 {
		t.Fatalf("after the drain: %+v", st)
	}
}

// TestSocketCutThroughProxy is issue #12's proof on a real clock: a TCP
// proxy cuts b's socket with the server alive. b comes back within the
// grace: a never sees stop. The second time b does not come back: a gets
// stop, reason timeout, once the grace has passed. On the cluster run, a
// is on the first node, b's socket on the last one and its new socket on
// another.
func TestSocketCutThroughProxy(t *testing.T) {
	const grace = time.Second
	s := start(t, func(c *config.Config) { c.ReconnectGrace = grace })
	p := tcpproxy.Start(t, s.nodes[len(s.nodes)-1].Addr)
	a, b := wstest.Dial(t, s.nodes[0].URL("live")), wstest.Dial(t, p.URL("live"))
	_, jb := pairResumable(t, a, b, "r")
	got := a.Collect()

	p.Cut()
	p.SetBackend(s.nodes[len(s.nodes)/2].Addr)
	if m := wstest.Next(t, got, 5*time.Second); m.Str("definition") != "peerReconnecting" || num(m, "reconnectGrace") != 1000 {
		t.Fatalf("got %s, want peerReconnecting", keys(m))
	}
	a.Send(msg{"command": "peerMessageCommand", "streamId": "r", "definition": "d", "data": "kept"})
	b2 := wstest.Dial(t, p.URL("live"))
	j := joinResumable(b2, "r", "sb", jb.Str("resumeToken"))
	if j["resumed"] != true {
		t.Fatalf("joined = %s", keys(j))
	}
	if m := b2.Expect("peerMessageCommand", ""); m.Str("data") != "kept" {
		t.Fatalf("kept = %s", keys(m))
	}
	if m := wstest.Next(t, got, 5*time.Second); m.Str("definition") != "peerReconnected" {
		t.Fatalf("got %s, want peerReconnected", keys(m))
	}

	// The clock starts before the cut: the server may see the socket end
	// (and start its grace) before Cut returns to this goroutine.
	cut := time.Now()
	p.Cut()
	if m := wstest.Next(t, got, 5*time.Second); m.Str("definition") != "peerReconnecting" {
		t.Fatalf("got %s, want peerReconnecting", keys(m))
	}
	m := wstest.Next(t, got, grace+5*time.Second)
	if m.Str("command") != "stop" || m.Str("reason") != "timeout" {
		t.Fatalf("got %s, want stop reason timeout", keys(m))
	}
	if waited := time.Since(cut); waited < grace {
		t.Fatalf("stop after %v, before the %v grace", waited, grace)
	}
}
