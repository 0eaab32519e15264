package server_test

import (
	"fmt"
	"github.com/duet-rtc/duet/hub"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestResumeHeldSeat is the contract's main path: b's socket is lost, its
// seat is held, a (resumable) hears peerReconnecting; what a relays
// meanwhile reaches b's new socket in order right after its resumed
// joined, a hears peerReconnected, and nobody sees stop or start.
func TestResumeHeldSeat(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	ja, jb := pairResumable(t, a, b, "r")
	if ja.Str("resumeToken") == "" || num(ja, "reconnectGrace") != float64(testGrace.Milliseconds()) || ja["resumed"] != nil || ja["peerSession"] != nil {
		t.Fatalf("first joined = %s", keys(ja))
	}
	if jb.Str("resumeToken") == "" || jb.Str("resumeToken") == ja.Str("resumeToken") || jb.Str("peerSession") != "sa" {
		t.Fatalf("second joined = %s", keys(jb))
	}
	if n := len(jb.Str("resumeToken")); n < 22 { // 128 bits in base64
		t.Fatalf("resume token of %d characters is too short", n)
	}

	b.WS.Close() // the socket is lost without leave
	m := a.Expect("notification", "peerReconnecting")
	if m.Str("streamId") != "r" || num(m, "reconnectGrace") != float64(testGrace.Milliseconds()) {
		t.Fatalf("peerReconnecting = %s", keys(m))
	}
	for i := range 3 {
		a.Send(msg{"command": "takeCandidate", "streamId": "r", "label": 0, "id": "0", "candidate": fmt.Sprintf("candidate:%d", i)})
	}
	a.Send(msg{"command": "peerMessageCommand", "streamId": "r", "definition": "chat", "data": "while you were away"})
	a.Quiet() // the relays above were handled

	b2 := wstest.Dial(t, s.URL("live"))
	j := joinResumable(b2, "r", "sb", jb.Str("resumeToken"))
	if j["resumed"] != true || j.Str("peerSession") != "sa" || j.Str("resumeToken") == "" || j.Str("resumeToken") == jb.Str("resumeToken") {
		t.Fatalf("resumed joined = %s", keys(j))
	}
	for i := range 3 {
		if c := b2.Expect("takeCandidate", ""); c.Str("candidate") != fmt.Sprintf("candidate:%d", i) {
			t.Fatalf("kept relay %d = %s", i, keys(c))
		}
	}
	if pm := b2.Expect("peerMessageCommand", ""); pm.Str("data") != "while you were away" {
		t.Fatalf("kept peer message = %s", keys(pm))
	}
	a.Expect("notification", "peerReconnected")
	// The call goes on both ways, with nothing else in between.
	b2.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "answer", "sdp": "v=0\r\n"})
	a.Expect("takeConfiguration", "")
	a.Send(msg{"command": "peerMessageCommand", "streamId": "r", "definition": "d", "data": "x"})
	b2.Expect("peerMessageCommand", "")
	a.Quiet()
	b2.Quiet()
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Held != 0 || st.Resumes != 1 || st.Expiries != 0) })
	for metric, want := range map[string]float64{"duet_held_seats": 0, "duet_resumes_total": 1, "duet_hold_expiries_total": 0} {
		if got := s.metricSum(t, metric); got != want {
			t.Errorf("%s = %v over the nodes, want %v", metric, got, want)
		}
	}

	// The token was rotated: the old one matches nothing, so its join is
	// an ordinary one, into a room with two live members.
	a.KeepReading()
	b2.KeepReading()
	b3 := wstest.Dial(t, s.URL("live"))
	b3.Send(joinMsg("r", "sb", true, jb.Str("resumeToken")))
	b3.Expect("error", "NoSpaceForNewPeer")
}

// TestPlainPartnerToldNothing: an Ant Media client paired with a resumable
// one hears nothing while its partner is away and back, and its relays
// meanwhile arrive.
func TestPlainPartnerToldNothing(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Join(a, "r")
	expectRaw(t, a, `{"command":"notification","definition":"joined","streamId":"r"}`)
	jb := joinResumable(b, "r", "sb", "")
	if jb["peerSession"] != nil {
		t.Fatalf("joined has a peerSession though the partner sent none: %s", keys(jb))
	}
	expectRaw(t, a, `{"command":"start","streamId":"r"}`) // no peerSession for a client that sent no session

	b.WS.Close()
	s.waitHeld(t, 1)
	a.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0\r\n"})
	a.Quiet() // no peerReconnecting, no error: the relay was kept

	b2 := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(b2, "r", "sb", jb.Str("resumeToken")); j["resumed"] != true {
		t.Fatalf("joined = %s", keys(j))
	}
	if o := b2.Expect("takeConfiguration", ""); o.Str("type") != "offer" {
		t.Fatalf("kept offer = %s", keys(o))
	}
	a.Quiet() // no peerReconnected either
	b2.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "answer", "sdp": "v=0\r\n"})
	expectRaw(t, a, `{"command":"takeConfiguration","streamId":"r","type":"answer","sdp":"v=0\r\n","idMapping":{}}`)
}

// TestHalfOpenSeatTakenOver: b comes back on a new socket before the
// server noticed the old one is dead. The new socket takes the seat, the
// old one is dropped, and no stop or start reaches anyone.
func TestHalfOpenSeatTakenOver(t *testing.T) {
	s := startResume(t)
	a, oldB := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	_, jb := pairResumable(t, a, oldB, "r")

	b := wstest.Dial(t, s.URL("live"))
	j := joinResumable(b, "r", "sb", jb.Str("resumeToken"))
	if j["resumed"] != true || j.Str("peerSession") != "sa" {
		t.Fatalf("joined = %s", keys(j))
	}
	if code, _ := oldB.Closed(); code != 1006 {
		t.Fatalf("old socket closed with %d, want a dropped socket (1006)", code)
	}
	a.Expect("notification", "peerReconnected")
	wstest.Eventually(t, "the old socket to be gone", func() bool { return s.Connections() == 2 })
	a.Quiet() // no stop, no start: the old socket's end changed nothing
	b.Quiet()
	a.Send(msg{"command": "peerMessageCommand", "streamId": "r", "definition": "d", "data": "x"})
	b.Expect("peerMessageCommand", "")
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Resumes != 1 || st.Held != 0 || st.Evictions != 0) })
}

// TestGraceExpiry: nobody comes back; when the grace ends the partner gets
// stop with reason timeout and waits; the expired token then makes an
// ordinary join, which pairs as a new partner.
func TestGraceExpiry(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	_, jb := pairResumable(t, a, b, "r")
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	s.clock.Advance(testGrace - 1)
	a.Quiet()
	s.clock.Advance(1)
	if m := a.Expect("stop", ""); m.Str("reason") != "timeout" || m.Str("streamId") != "r" {
		t.Fatalf("stop = %s", keys(m))
	}
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Held != 0 || st.Expiries != 1) })

	b2 := wstest.Dial(t, s.URL("live"))
	j := joinResumable(b2, "r", "sb", jb.Str("resumeToken"))
	if j["resumed"] != nil || j.Str("resumeToken") == "" || j.Str("peerSession") != "sa" {
		t.Fatalf("joined with an expired token = %s", keys(j))
	}
	if st := a.Expect("start", ""); st.Str("peerSession") != "sb" {
		t.Fatalf("start = %s", keys(st))
	}
}

// TestGraceExpiryPlainPartner: the Ant Media partner hears nothing until
// the grace ends, then exactly stop with reason timeout.
func TestGraceExpiryPlainPartner(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Join(a, "r")
	a.Expect("notification", "joined")
	joinResumable(b, "r", "", "")
	a.Expect("start", "")
	b.WS.Close()
	s.waitHeld(t, 1)
	a.Quiet()
	s.clock.Advance(testGrace)
	expectRaw(t, a, `{"command":"stop","streamId":"r","reason":"timeout"}`)
}

// TestTokenMatchingNothingIsOrdinaryJoin: a token for another room, or one
// that was never issued, is not an error: the join is an ordinary one.
func TestTokenMatchingNothingIsOrdinaryJoin(t *testing.T) {
	s := startResume(t)
	a := wstest.Dial(t, s.URL("live"))
	ja := joinResumable(a, "r1", "sa", "")
	b := wstest.Dial(t, s.URL("live"))
	for _, tc := range []struct{ room, token string }{
		{"r2", ja.Str("resumeToken")},                  // a seat of another room
		{"r3", "not-a-token"},                          // never issued
		{"r4", strings.Repeat("x", 10000)},             // absurd
		{"r1", ja.Str("resumeToken") + "x"},            // close but wrong
		{"r5", strings.ToUpper(ja.Str("resumeToken"))}, // case matters
	} {
		j := joinResumable(b, tc.room, "sb", tc.token)
		if j["resumed"] != nil || j.Str("resumeToken") == "" {
			t.Fatalf("join of %s with token %.20q = %s", tc.room, tc.token, keys(j))
		}
	}
	// b's join of r1 with a wrong token made it a's partner, not a's seat.
	if st := a.Expect("start", ""); st.Str("peerSession") != "sb" {
		t.Fatalf("start = %s", keys(st))
	}
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Resumes != 0) })
	// The same token in another app is another room too.
	c := wstest.Dial(t, s.URL("otherApp"))
	if j := joinResumable(c, "r1", "", ja.Str("resumeToken")); j["resumed"] != nil {
		t.Fatalf("token worked in another app: %s", keys(j))
	}
}

// TestThirdJoinerRefusedWhileHeld: a held seat is occupied: a probe of it
// answers alive until its grace ends.
func TestThirdJoinerRefusedWhileHeld(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	pairResumable(t, a, b, "r")
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	a.KeepReading() // answers the probe
	c := wstest.Dial(t, s.URL("live"))
	wstest.Join(c, "r")
	c.Expect("error", "NoSpaceForNewPeer")
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Evictions != 0 || st.Held != 1 || st.Probes != 1) })
	// Once the grace is over, the seat is free.
	s.clock.Advance(testGrace)
	wstest.Join(c, "r")
	c.Expect("notification", "joined")
}

// TestLeaveIsImmediate: a resumable member that leaves is gone at once,
// and its token with it.
func TestLeaveIsImmediate(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	_, jb := pairResumable(t, a, b, "r")
	b.Send(msg{"command": "leave", "streamId": "r"})
	b.Expect("notification", "leaved")
	if m := a.Expect("stop", ""); m.Str("reason") != "left" {
		t.Fatalf("stop = %s", keys(m))
	}
	b.WS.Close()
	b2 := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(b2, "r", "sb", jb.Str("resumeToken")); j["resumed"] != nil {
		t.Fatalf("a token survived leave: %s", keys(j))
	}
	a.Expect("start", "")
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Held != 0 || st.Resumes != 0) })
}
