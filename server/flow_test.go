package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestCall walks a whole call: join, start, offer, answer, candidates both
// ways, a peer message, leave, and a new partner for the one who stayed.
func TestCall(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("WebRTCAppEE")+"?target=origin"), wstest.Dial(t, s.URL("WebRTCAppEE"))

	wstest.Join(a, "room1")
	if m := a.Expect("notification", "joined"); m.Str("streamId") != "room1" {
		t.Fatalf("joined without streamId: %v", m)
	}
	b.Send(msg{"command": "join", "streamId": "room1", "multiPeer": false, "mode": "both", "token": "", "unknownField": 1})
	b.Expect("notification", "joined")
	if m := a.Expect("start", ""); m.Str("streamId") != "room1" {
		t.Fatalf("start without streamId: %v", m)
	}

	a.Send(msg{"command": "takeConfiguration", "streamId": "room1", "type": "offer", "sdp": "v=0\r\noffer\r\n"})
	offer := b.Expect("takeConfiguration", "")
	if offer.Str("type") != "offer" || offer.Str("sdp") != "v=0\r\noffer\r\n" || offer.Str("streamId") != "room1" {
		t.Fatalf("offer = %v", offer)
	}
	if idm, ok := offer["idMapping"].(map[string]any); !ok || len(idm) != 0 {
		t.Fatalf("offer idMapping = %v, want {}", offer["idMapping"])
	}
	b.Send(msg{"command": "takeConfiguration", "streamId": "room1", "type": "answer", "sdp": "v=0\r\nanswer\r\n"})
	if ans := a.Expect("takeConfiguration", ""); ans.Str("type") != "answer" || ans.Str("sdp") != "v=0\r\nanswer\r\n" {
		t.Fatalf("answer = %v", ans)
	}

	// Candidates: label as number and as numeric string; both arrive as
	// numbers with a string id.
	a.Send(msg{"command": "takeCandidate", "streamId": "room1", "label": 0, "id": "0", "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"})
	b.Send(`{"command":"takeCandidate","streamId":"room1","label":"1","id":"1","candidate":"candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host"}`)
	ca, cb := b.Expect("takeCandidate", ""), a.Expect("takeCandidate", "")
	if ca["label"] != float64(0) || ca.Str("id") != "0" || !strings.Contains(ca.Str("candidate"), "50000") {
		t.Fatalf("candidate to b = %v", ca)
	}
	if cb["label"] != float64(1) || cb.Str("id") != "1" || !strings.Contains(cb.Str("candidate"), "50001") {
		t.Fatalf("candidate to a = %v", cb)
	}
	// A candidate without an id still reaches the partner with one.
	a.Send(`{"command":"takeCandidate","streamId":"room1","label":2,"candidate":"candidate:3"}`)
	if c := b.Expect("takeCandidate", ""); c.Str("id") != "2" || c["label"] != float64(2) {
		t.Fatalf("candidate without id = %v", c)
	}

	a.Send(msg{"command": "peerMessageCommand", "streamId": "room1", "definition": "chat", "data": `{"text":"hi"}`})
	if pm := b.Expect("peerMessageCommand", ""); pm.Str("definition") != "chat" || pm.Str("data") != `{"text":"hi"}` {
		t.Fatalf("peer message = %v", pm)
	}

	a.Send(msg{"command": "leave", "streamId": "room1"})
	a.Expect("notification", "leaved")
	b.Expect("stop", "")
	a.Quiet()
	b.Quiet()
	// A relay with no partner is refused.
	b.Send(msg{"command": "peerMessageCommand", "streamId": "room1", "definition": "d", "data": "x"})
	b.Expect("error", "no_peer_associated_before")

	// b waited; the next peer to join makes b offer, and relays flow.
	c := wstest.Dial(t, s.URL("WebRTCAppEE"))
	wstest.Join(c, "room1")
	c.Expect("notification", "joined")
	b.Expect("start", "")
	c.Send(msg{"command": "takeCandidate", "streamId": "room1", "label": 0, "id": "0", "candidate": "c"})
	if m := b.Expect("takeCandidate", ""); m.Str("candidate") != "c" {
		t.Fatalf("got %v", m)
	}
}

func TestThirdPeerRefused(t *testing.T) {
	s := start(t)
	a, b, c := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "full")
	a.KeepReading() // a and b must answer the liveness probe
	b.KeepReading()
	wstest.Join(c, "full")
	if e := c.Expect("error", "NoSpaceForNewPeer"); e.Str("streamId") != "full" {
		t.Fatalf("error without streamId: %v", e)
	}
	c.Quiet()
}

func TestStopAndLeaveAreTheSame(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	b.Send(msg{"command": "stop", "streamId": "r"})
	b.Expect("notification", "leaved")
	a.Expect("stop", "")
	wstest.Join(b, "r")
	b.Expect("notification", "joined")
	a.Expect("start", "")
}

func TestDisconnectSendsStop(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	a.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0"})
	b.WS.Close() // vanishes mid-negotiation
	a.Expect("stop", "")
	wstest.Eventually(t, "one room member left", func() bool { return s.Rooms().Stats().Rooms == 1 })
	a.WS.Close()
	wstest.Eventually(t, "rooms forgotten", func() bool { return s.Rooms().Stats().Rooms == 0 && s.Connections() == 0 })
}

// TestRepeatedJoin: a repeated join while waiting alone changes nothing;
// while paired, a plain member's (an Ant Media SDK's: the iOS SDK calls
// again so) starts the call over: the partner gets stop (reason restart)
// and start, and offers to the joiner.
func TestRepeatedJoin(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Join(a, "r")
	a.Expect("notification", "joined")
	wstest.Join(a, "r")
	a.Expect("notification", "joined")
	a.Quiet() // waiting alone: nothing else
	wstest.Join(b, "r")
	b.Expect("notification", "joined")
	a.Expect("start", "")
	wstest.Join(b, "r") // again, while paired
	b.Expect("notification", "joined")
	if m := a.Expect("stop", ""); m.Str("reason") != "restart" {
		t.Fatalf("stop = %v, want reason restart", m)
	}
	a.Expect("start", "")
	a.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0"})
	b.Expect("takeConfiguration", "")
	a.Quiet()
	b.Quiet()
}

func TestOneSocketSeveralRooms(t *testing.T) {
	s := start(t, func(c *config.Config) { c.MaxRoomsPerConn = 3 })
	hubc, x, y := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(hubc, x, "rx")
	wstest.Pair(hubc, y, "ry")
	x.Send(msg{"command": "peerMessageCommand", "streamId": "rx", "definition": "from", "data": "x"})
	y.Send(msg{"command": "peerMessageCommand", "streamId": "ry", "definition": "from", "data": "y"})
	got := map[string]string{}
	for range 2 {
		m := hubc.Expect("peerMessageCommand", "")
		got[m.Str("streamId")] = m.Str("data")
	}
	if got["rx"] != "x" || got["ry"] != "y" {
		t.Fatalf("messages by room = %v", got)
	}
	// Leaving one room leaves the other intact.
	hubc.Send(msg{"command": "leave", "streamId": "rx"})
	hubc.Expect("notification", "leaved")
	x.Expect("stop", "")
	hubc.Send(msg{"command": "peerMessageCommand", "streamId": "ry", "definition": "d", "data": "still"})
	if m := y.Expect("peerMessageCommand", ""); m.Str("data") != "still" {
		t.Fatalf("got %v", m)
	}
	// The limit: 3 rooms; a fourth is refused.
	for _, r := range []string{"r2", "r3"} {
		wstest.Join(hubc, r)
		hubc.Expect("notification", "joined")
	}
	wstest.Join(hubc, "r4")
	hubc.Expect("error", "tooManyRooms")
	wstest.Join(hubc, "r3") // rejoin of a room it is in is not a new room
	hubc.Expect("notification", "joined")
}

func TestAppsAreNamespaces(t *testing.T) {
	s := start(t)
	a1, a2 := wstest.Dial(t, s.URL("AppA")), wstest.Dial(t, s.URL("AppA"))
	b1 := wstest.Dial(t, s.URL("AppB"))
	wstest.Join(a1, "same")
	a1.Expect("notification", "joined")
	wstest.Join(b1, "same")
	b1.Expect("notification", "joined")
	wstest.Join(a2, "same")
	a2.Expect("notification", "joined")
	a1.Expect("start", "")
	b1.Quiet() // b1 is alone in AppB's room
}

func TestRelayOrderUnderBurst(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "burst")
	const n = 3000
	go func() {
		for i := range n {
			a.WS.WriteMessage(1, fmt.Appendf(nil, `{"command":"takeCandidate","streamId":"burst","label":0,"id":"0","candidate":"c%d"}`, i))
		}
	}()
	for i := range n {
		m := b.Expect("takeCandidate", "")
		if want := fmt.Sprintf("c%d", i); m.Str("candidate") != want {
			t.Fatalf("message %d: got %q", i, m.Str("candidate"))
		}
	}
}

func TestLargeSDPRelayedIntact(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "big")
	var sb strings.Builder
	for i := 0; sb.Len() < 200<<10; i++ {
		fmt.Fprintf(&sb, "a=candidate:%d 1 udp 2122260223 10.0.0.%d %d typ host generation 0 \"quoted\" ü\r\n", i, i%250, 40000+i)
	}
	sdp := sb.String()
	a.Send(msg{"command": "takeConfiguration", "streamId": "big", "type": "offer", "sdp": sdp})
	if got := b.Expect("takeConfiguration", "").Str("sdp"); got != sdp {
		t.Fatalf("sdp of %d bytes arrived as %d bytes, differing", len(sdp), len(got))
	}
}

// TestPeersSpreadOverNodes checks the harness itself: with DUET_TEST_NODES
// set, consecutive clients land on different nodes (and in single-node
// mode, on the one node), so the protocol tests above really cross the
// cluster.
func TestPeersSpreadOverNodes(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "spread")
	want := []int{2}
	if len(s.nodes) > 1 {
		want = make([]int, len(s.nodes))
		want[0], want[1] = 1, 1
	}
	for i, n := range s.nodes {
		if got := n.Connections(); got != want[i] {
			t.Fatalf("node %d has %d sockets, want %d (of %d nodes)", i, got, want[i], len(s.nodes))
		}
	}
	t.Logf("%d node(s)", len(s.nodes))
}
