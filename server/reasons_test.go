package server_test

import (
	"testing"
	"time"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// stopFrame is the stop a partner gets for reason, on every backend.
func stopFrame(room, reason string) string {
	return `{"command":"stop","streamId":"` + room + `","reason":"` + reason + `"}`
}

// TestAntMediaFramesUnchanged checks, byte for byte, every room message an
// Ant Media client (no session, resumable or resumeToken) gets: today's,
// plus stop's reason. It runs on every backend.
func TestAntMediaFramesUnchanged(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("WebRTCAppEE")), wstest.Dial(t, s.URL("WebRTCAppEE"))
	a.Send(`{"command":"join","streamId":"r","multiPeer":false,"mode":"both"}`)
	expectRaw(t, a, `{"command":"notification","definition":"joined","streamId":"r"}`)
	b.Send(`{"command":"join","streamId":"r","multiPeer":false,"mode":"both"}`)
	expectRaw(t, b, `{"command":"notification","definition":"joined","streamId":"r"}`)
	expectRaw(t, a, `{"command":"start","streamId":"r"}`)
	b.Send(`{"command":"leave","streamId":"r"}`)
	expectRaw(t, b, `{"command":"notification","definition":"leaved","streamId":"r"}`)
	expectRaw(t, a, stopFrame("r", "left"))

	// A socket that closes: closed.
	c := wstest.Dial(t, s.URL("WebRTCAppEE"))
	c.Send(`{"command":"join","streamId":"r"}`)
	expectRaw(t, c, `{"command":"notification","definition":"joined","streamId":"r"}`)
	expectRaw(t, a, `{"command":"start","streamId":"r"}`)
	c.WS.Close()
	expectRaw(t, a, stopFrame("r", "closed"))

	// A duet joiner does not change what an Ant Media waiter gets.
	d := wstest.Dial(t, s.URL("WebRTCAppEE"))
	joinResumable(d, "r", "sd", "")
	expectRaw(t, a, `{"command":"start","streamId":"r"}`)
	a.Quiet()
}

// TestStopReasonTimeout: a partner silent for idle_timeout is dropped and
// the survivor's stop says timeout.
func TestStopReasonTimeout(t *testing.T) {
	s := start(t, func(c *config.Config) { c.PingInterval, c.IdleTimeout = 50*time.Millisecond, 300*time.Millisecond })
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	got := a.Collect() // a answers pings; b, reading nothing, answers none
	m := wstest.Next(t, got, 10*time.Second)
	want := "timeout"
	if m.Str("command") != "stop" || m.Str("reason") != want {
		t.Fatalf("got %s, want stop with reason %q", keys(m), want)
	}
}

// TestStopReasonEvicted: a member that does not answer the probe when a
// third peer joins is evicted; a resumable one is not held.
func TestStopReasonEvicted(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	pairResumable(t, a, b, "r")
	got := a.Collect()
	// b reads nothing from now on, so it answers no probe.
	c := wstest.Dial(t, s.URL("live"))
	wstest.Join(c, "r")
	c.Expect("notification", "joined")
	if m := wstest.Next(t, got, 5*time.Second); m.Str("command") != "stop" || m.Str("reason") != "evicted" {
		t.Fatalf("got %s, want stop reason evicted", keys(m))
	}
	if m := wstest.Next(t, got, 5*time.Second); m.Str("command") != "start" {
		t.Fatalf("got %s, want start", keys(m))
	}
	if code, _ := b.Closed(); code != 1006 {
		t.Fatalf("evicted socket closed with %d", code)
	}
	s.expectStats(t, func(st hub.Stats) bool { return !(st.Held != 0 || st.Evictions != 1) })
}

// TestIdleResumableHeld: a resumable member that goes silent is held,
// like one whose socket closed.
func TestIdleResumableHeld(t *testing.T) {
	s := startResume(t, func(c *config.Config) { c.PingInterval, c.IdleTimeout = 50*time.Millisecond, 300*time.Millisecond })
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	_, jb := pairResumable(t, a, b, "r")
	got := a.Collect()
	if m := wstest.Next(t, got, 10*time.Second); m.Str("definition") != "peerReconnecting" {
		t.Fatalf("got %s, want peerReconnecting", keys(m))
	}
	b2 := wstest.Dial(t, s.URL("live"))
	b2.KeepReading()
	b2.Send(joinMsg("r", "sb", true, jb.Str("resumeToken")))
	if m := wstest.Next(t, got, 5*time.Second); m.Str("definition") != "peerReconnected" {
		t.Fatalf("got %s, want peerReconnected", keys(m))
	}
}

// TestNoHoldingWithoutGrace: with reconnect_grace 0 resumable is ignored,
// on one node and on a cluster: joined has no token and a lost socket
// leaves at once.
func TestNoHoldingWithoutGrace(t *testing.T) {
	s := start(t, func(c *config.Config) { c.ReconnectGrace = 0 })
	if g := hub.ReconnectGrace(s.nodes[0].Rooms()); g != 0 {
		t.Fatalf("backend holds seats for %v with reconnect_grace 0", g)
	}
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	ja := joinResumable(a, "r", "sa", "")
	jb := joinResumable(b, "r", "sb", "whatever")
	for _, j := range []msg{ja, jb} {
		if j["resumeToken"] != nil || j["reconnectGrace"] != nil || j["resumed"] != nil {
			t.Fatalf("joined = %s", keys(j))
		}
	}
	a.Expect("start", "")
	b.WS.Close()
	expectRaw(t, a, stopFrame("r", "closed"))
}

// TestClusterHoldsSeats runs only on the cluster: every node holds the
// seats of resumable members for reconnect_grace, as one node does (the
// resume tests then run on the cluster with their peers on different
// nodes).
func TestClusterHoldsSeats(t *testing.T) {
	if !clustered() {
		t.Skip("cluster run only (DUET_TEST_NODES=3)")
	}
	s := start(t)
	for i, n := range s.nodes {
		if g := hub.ReconnectGrace(n.Rooms()); g != config.Default().ReconnectGrace {
			t.Fatalf("node %d holds seats for %v, want reconnect_grace (%v)", i+1, g, config.Default().ReconnectGrace)
		}
	}
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	if j := joinResumable(a, "r", "sa", ""); j.Str("resumeToken") == "" || num(j, "reconnectGrace") != 30000 {
		t.Fatalf("joined = %s", keys(j))
	}
	joinResumable(b, "r", "sb", "")
	a.Expect("start", "")
	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
}
