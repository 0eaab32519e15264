package server_test

import (
	"fmt"
	"github.com/duet-rtc/duet/config"
	"strings"
	"testing"
)

// TestCall walks a whole call: join, start, offer, answer, candidates both
// ways, a peer message, leave, and a new partner for the one who stayed.
func TestCall(t *testing.T) {
	s := start(t)
	a, b := dial(t, s.URL("WebRTCAppEE")+"?target=origin"), dial(t, s.URL("WebRTCAppEE"))

	join(a, "room1")
	if m := a.expect("notification", "joined"); m.str("streamId") != "room1" {
		t.Fatalf("joined without streamId: %v", m)
	}
	b.send(msg{"command": "join", "streamId": "room1", "multiPeer": false, "mode": "both", "token": "", "unknownField": 1})
	b.expect("notification", "joined")
	if m := a.expect("start", ""); m.str("streamId") != "room1" {
		t.Fatalf("start without streamId: %v", m)
	}

	a.send(msg{"command": "takeConfiguration", "streamId": "room1", "type": "offer", "sdp": "v=0\r\noffer\r\n"})
	offer := b.expect("takeConfiguration", "")
	if offer.str("type") != "offer" || offer.str("sdp") != "v=0\r\noffer\r\n" || offer.str("streamId") != "room1" {
		t.Fatalf("offer = %v", offer)
	}
	if idm, ok := offer["idMapping"].(map[string]any); !ok || len(idm) != 0 {
		t.Fatalf("offer idMapping = %v, want {}", offer["idMapping"])
	}
	b.send(msg{"command": "takeConfiguration", "streamId": "room1", "type": "answer", "sdp": "v=0\r\nanswer\r\n"})
	if ans := a.expect("takeConfiguration", ""); ans.str("type") != "answer" || ans.str("sdp") != "v=0\r\nanswer\r\n" {
		t.Fatalf("answer = %v", ans)
	}

	// Candidates: label as number and as numeric string; both arrive as
	// numbers with a string id.
	a.send(msg{"command": "takeCandidate", "streamId": "room1", "label": 0, "id": "0", "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"})
	b.send(`{"command":"takeCandidate","streamId":"room1","label":"1","id":"1","candidate":"candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host"}`)
	ca, cb := b.expect("takeCandidate", ""), a.expect("takeCandidate", "")
	if ca["label"] != float64(0) || ca.str("id") != "0" || !strings.Contains(ca.str("candidate"), "50000") {
		t.Fatalf("candidate to b = %v", ca)
	}
	if cb["label"] != float64(1) || cb.str("id") != "1" || !strings.Contains(cb.str("candidate"), "50001") {
		t.Fatalf("candidate to a = %v", cb)
	}
	// A candidate without an id still reaches the partner with one.
	a.send(`{"command":"takeCandidate","streamId":"room1","label":2,"candidate":"candidate:3"}`)
	if c := b.expect("takeCandidate", ""); c.str("id") != "2" || c["label"] != float64(2) {
		t.Fatalf("candidate without id = %v", c)
	}

	a.send(msg{"command": "peerMessageCommand", "streamId": "room1", "definition": "chat", "data": `{"text":"hi"}`})
	if pm := b.expect("peerMessageCommand", ""); pm.str("definition") != "chat" || pm.str("data") != `{"text":"hi"}` {
		t.Fatalf("peer message = %v", pm)
	}

	a.send(msg{"command": "leave", "streamId": "room1"})
	a.expect("notification", "leaved")
	b.expect("stop", "")
	a.quiet()
	b.quiet()

	// b waited; the next peer to join makes b offer.
	c := dial(t, s.URL("WebRTCAppEE"))
	join(c, "room1")
	c.expect("notification", "joined")
	b.expect("start", "")
}

func TestThirdPeerRefused(t *testing.T) {
	s := start(t)
	a, b, c := dial(t, s.URL("live")), dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "full")
	a.keepReading() // a and b must answer the liveness probe
	b.keepReading()
	join(c, "full")
	if e := c.expect("error", "NoSpaceForNewPeer"); e.str("streamId") != "full" {
		t.Fatalf("error without streamId: %v", e)
	}
	c.quiet()
}

func TestStopAndLeaveAreTheSame(t *testing.T) {
	s := start(t)
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "r")
	b.send(msg{"command": "stop", "streamId": "r"})
	b.expect("notification", "leaved")
	a.expect("stop", "")
	join(b, "r")
	b.expect("notification", "joined")
	a.expect("start", "")
}

func TestDisconnectSendsStop(t *testing.T) {
	s := start(t)
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "r")
	a.send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0"})
	b.ws.Close() // vanishes mid-negotiation
	a.expect("stop", "")
	eventually(t, "one room member left", func() bool { return s.Rooms().Stats().Rooms == 1 })
	a.ws.Close()
	eventually(t, "rooms forgotten", func() bool { return s.Rooms().Stats().Rooms == 0 && s.Connections() == 0 })
}

func TestDoubleJoinIsIdempotent(t *testing.T) {
	s := start(t)
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	join(a, "r")
	a.expect("notification", "joined")
	join(a, "r")
	a.expect("notification", "joined")
	pair2 := func() {
		join(b, "r")
		b.expect("notification", "joined")
	}
	pair2()
	a.expect("start", "")
	join(b, "r") // again, while paired
	b.expect("notification", "joined")
	a.quiet() // no second start
	b.quiet()
}

func TestOneSocketSeveralRooms(t *testing.T) {
	s := start(t, func(c *config.Config) { c.MaxRoomsPerConn = 3 })
	hubc, x, y := dial(t, s.URL("live")), dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(hubc, x, "rx")
	pair(hubc, y, "ry")
	x.send(msg{"command": "peerMessageCommand", "streamId": "rx", "definition": "from", "data": "x"})
	y.send(msg{"command": "peerMessageCommand", "streamId": "ry", "definition": "from", "data": "y"})
	got := map[string]string{}
	for range 2 {
		m := hubc.expect("peerMessageCommand", "")
		got[m.str("streamId")] = m.str("data")
	}
	if got["rx"] != "x" || got["ry"] != "y" {
		t.Fatalf("messages by room = %v", got)
	}
	// Leaving one room leaves the other intact.
	hubc.send(msg{"command": "leave", "streamId": "rx"})
	hubc.expect("notification", "leaved")
	x.expect("stop", "")
	hubc.send(msg{"command": "peerMessageCommand", "streamId": "ry", "definition": "d", "data": "still"})
	if m := y.expect("peerMessageCommand", ""); m.str("data") != "still" {
		t.Fatalf("got %v", m)
	}
	// The limit: 3 rooms; a fourth is refused.
	for _, r := range []string{"r2", "r3"} {
		join(hubc, r)
		hubc.expect("notification", "joined")
	}
	join(hubc, "r4")
	hubc.expect("error", "tooManyRooms")
	join(hubc, "r3") // rejoin of a room it is in is not a new room
	hubc.expect("notification", "joined")
}

func TestAppsAreNamespaces(t *testing.T) {
	s := start(t)
	a1, a2 := dial(t, s.URL("AppA")), dial(t, s.URL("AppA"))
	b1 := dial(t, s.URL("AppB"))
	join(a1, "same")
	a1.expect("notification", "joined")
	join(b1, "same")
	b1.expect("notification", "joined")
	join(a2, "same")
	a2.expect("notification", "joined")
	a1.expect("start", "")
	b1.quiet() // b1 is alone in AppB's room
}

func TestRelayOrderUnderBurst(t *testing.T) {
	s := start(t)
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "burst")
	const n = 3000
	go func() {
		for i := range n {
			a.ws.WriteMessage(1, fmt.Appendf(nil, `{"command":"takeCandidate","streamId":"burst","label":0,"id":"0","candidate":"c%d"}`, i))
		}
	}()
	for i := range n {
		m := b.expect("takeCandidate", "")
		if want := fmt.Sprintf("c%d", i); m.str("candidate") != want {
			t.Fatalf("message %d: got %q", i, m.str("candidate"))
		}
	}
}

func TestLargeSDPRelayedIntact(t *testing.T) {
	s := start(t)
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "big")
	var sb strings.Builder
	for i := 0; sb.Len() < 200<<10; i++ {
		fmt.Fprintf(&sb, "a=candidate:%d 1 udp 2122260223 10.0.0.%d %d typ host generation 0 \"quoted\" ü\r\n", i, i%250, 40000+i)
	}
	sdp := sb.String()
	a.send(msg{"command": "takeConfiguration", "streamId": "big", "type": "offer", "sdp": sdp})
	if got := b.expect("takeConfiguration", "").str("sdp"); got != sdp {
		t.Fatalf("sdp of %d bytes arrived as %d bytes, differing", len(sdp), len(got))
	}
}

// TestPeersSpreadOverNodes checks the harness itself: with DUET_TEST_NODES
// set, consecutive clients land on different nodes (and in single-node
// mode, on the one node), so the protocol tests above really cross the
// cluster.
func TestPeersSpreadOverNodes(t *testing.T) {
	s := start(t)
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "spread")
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
