package cluster_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/config"
)

// The single-node protocol scenarios of server/, with the peers of each
// room on different nodes.

func TestCallAcrossNodes(t *testing.T) {
	n := startCluster(t, 3)
	a, b := dial(t, n[0].URL("WebRTCAppEE")+"?target=origin"), dial(t, n[1].URL("WebRTCAppEE"))

	join(a, "room1")
	if m := a.expect("notification", "joined"); m.str("streamId") != "room1" {
		t.Fatalf("joined without streamId: %v", m)
	}
	b.send(msg{"command": "join", "streamId": "room1", "multiPeer": false, "mode": "both", "token": ""})
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
	if ans := a.expect("takeConfiguration", ""); ans.str("type") != "answer" {
		t.Fatalf("answer = %v", ans)
	}
	a.send(msg{"command": "takeCandidate", "streamId": "room1", "label": 0, "id": "0", "candidate": "candidate:1 1 udp 1 127.0.0.1 50000 typ host"})
	b.send(`{"command":"takeCandidate","streamId":"room1","label":"1","id":"1","candidate":"candidate:2 1 udp 1 127.0.0.1 50001 typ host"}`)
	ca, cb := b.expect("takeCandidate", ""), a.expect("takeCandidate", "")
	if ca["label"] != float64(0) || ca.str("id") != "0" || !strings.Contains(ca.str("candidate"), "50000") {
		t.Fatalf("candidate to b = %v", ca)
	}
	if cb["label"] != float64(1) || cb.str("id") != "1" || !strings.Contains(cb.str("candidate"), "50001") {
		t.Fatalf("candidate to a = %v", cb)
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
	// A relay after the partner left is refused, as on one node.
	b.send(msg{"command": "peerMessageCommand", "streamId": "room1", "definition": "d", "data": "x"})
	b.expect("error", "no_peer_associated_before")

	// b waited; a peer joining through the third node makes b offer.
	c := dial(t, n[2].URL("WebRTCAppEE"))
	join(c, "room1")
	c.expect("notification", "joined")
	b.expect("start", "")
	c.send(msg{"command": "takeCandidate", "streamId": "room1", "label": 0, "id": "0", "candidate": "c"})
	b.expect("takeCandidate", "")
}

func TestThirdPeerRefusedAcrossNodes(t *testing.T) {
	n := startCluster(t, 3)
	a, b, c := dial(t, n[0].URL("live")), dial(t, n[1].URL("live")), dial(t, n[2].URL("live"))
	pair(a, b, "full")
	a.keepReading() // a and b must answer the liveness probe
	b.keepReading()
	join(c, "full")
	if e := c.expect("error", "NoSpaceForNewPeer"); e.str("streamId") != "full" {
		t.Fatalf("error without streamId: %v", e)
	}
	c.quiet()
	if p := n[2].Rooms().Stats().Probes; p != 1 {
		t.Fatalf("probes on the joiner's node = %d, want 1", p)
	}
}

func TestStopAndLeaveAcrossNodes(t *testing.T) {
	n := startCluster(t, 2)
	a, b := dial(t, n[0].URL("live")), dial(t, n[1].URL("live"))
	pair(a, b, "r")
	b.send(msg{"command": "stop", "streamId": "r"})
	b.expect("notification", "leaved")
	a.expect("stop", "")
	join(b, "r")
	b.expect("notification", "joined")
	a.expect("start", "")
}

func TestDisconnectSendsStopAcrossNodes(t *testing.T) {
	n := startCluster(t, 2)
	a, b := dial(t, n[0].URL("live")), dial(t, n[1].URL("live"))
	pair(a, b, "r")
	a.send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0"})
	b.expect("takeConfiguration", "")
	b.ws.Close() // vanishes mid-negotiation
	a.expect("stop", "")
	eventually(t, "only a's room left", func() bool {
		return n[0].Rooms().Stats().Rooms == 1 && n[1].Rooms().Stats().Rooms == 0
	})
	a.ws.Close()
	eventually(t, "rooms forgotten", func() bool { return roomsEverywhere(n) == 0 && n[0].Connections() == 0 })
	// The room is gone from the bucket too: two newcomers pair in it.
	c, d := dial(t, n[1].URL("live")), dial(t, n[0].URL("live"))
	pair(c, d, "r")
}

func TestDoubleJoinAcrossNodes(t *testing.T) {
	n := startCluster(t, 2)
	a, b := dial(t, n[0].URL("live")), dial(t, n[1].URL("live"))
	join(a, "r")
	a.expect("notification", "joined")
	join(a, "r")
	a.expect("notification", "joined")
	join(b, "r")
	b.expect("notification", "joined")
	a.expect("start", "")
	join(b, "r") // again, while paired
	b.expect("notification", "joined")
	a.quiet() // no second start
	b.quiet()
}

func TestOneSocketSeveralRoomsAcrossNodes(t *testing.T) {
	n := startCluster(t, 3, func(c *config.Config) { c.MaxRoomsPerConn = 3 })
	hubc, x, y := dial(t, n[0].URL("live")), dial(t, n[1].URL("live")), dial(t, n[2].URL("live"))
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
	hubc.send(msg{"command": "leave", "streamId": "rx"})
	hubc.expect("notification", "leaved")
	x.expect("stop", "")
	hubc.send(msg{"command": "peerMessageCommand", "streamId": "ry", "definition": "d", "data": "still"})
	if m := y.expect("peerMessageCommand", ""); m.str("data") != "still" {
		t.Fatalf("got %v", m)
	}
}

func TestAppsAreNamespacesAcrossNodes(t *testing.T) {
	n := startCluster(t, 3)
	a1, a2 := dial(t, n[0].URL("AppA")), dial(t, n[1].URL("AppA"))
	b1 := dial(t, n[2].URL("AppB"))
	join(a1, "same.name") // a '.' in a streamId must not confuse the bucket's keys
	a1.expect("notification", "joined")
	join(b1, "same.name")
	b1.expect("notification", "joined")
	join(a2, "same.name")
	a2.expect("notification", "joined")
	a1.expect("start", "")
	b1.quiet() // b1 is alone in AppB's room
}

func TestRelayOrderUnderBurstAcrossNodes(t *testing.T) {
	n := startCluster(t, 2)
	a, b := dial(t, n[0].URL("live")), dial(t, n[1].URL("live"))
	pair(a, b, "burst")
	const count = 3000
	go func() {
		for i := range count {
			a.ws.WriteMessage(1, fmt.Appendf(nil, `{"command":"takeCandidate","streamId":"burst","label":0,"id":"0","candidate":"c%d"}`, i))
		}
	}()
	for i := range count {
		m := b.expect("takeCandidate", "")
		if want := fmt.Sprintf("c%d", i); m.str("candidate") != want {
			t.Fatalf("message %d: got %q", i, m.str("candidate"))
		}
	}
}

func TestLargeSDPAcrossNodes(t *testing.T) {
	n := startCluster(t, 2)
	a, b := dial(t, n[0].URL("live")), dial(t, n[1].URL("live"))
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

func TestClusterMetrics(t *testing.T) {
	n := startCluster(t, 2)
	a, b := dial(t, n[0].URL("live")), dial(t, n[1].URL("live"))
	pair(a, b, "m")
	a.send(msg{"command": "takeCandidate", "streamId": "m", "label": 0, "id": "0", "candidate": "c"})
	b.expect("takeCandidate", "")
	_, body := httpGet(t, n[0].HTTP()+"/metrics")
	for _, want := range []string{
		`duet_cluster_messages_total{direction="out",kind="frame"} 1`,
		`duet_cluster_messages_total{direction="in",kind="event"} 1`, // a's start
		"duet_cluster_nats_connected 1",
		"duet_cluster_kv_conflicts_total 0",
		`duet_cluster_kv_seconds_count{op="create"} 1`,
		"duet_cluster_nodes ",
		"duet_cluster_nats_rtt_seconds ",
		"duet_rooms 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
