package server_test

import (
	"testing"

	"github.com/duet-rtc/duet/hub"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// iosJoin is the join the Ant Media iOS SDK sends (AntMediaClient's
// HandshakeMessage: the token, its video and audio switches, an empty
// trackList, and mainTrack when the app set one); duet ignores the fields
// it does not use.
func iosJoin(room string) msg {
	return msg{"command": "join", "streamId": room, "token": "", "video": true, "audio": true, "mainTrack": room, "trackList": []string{}}
}

// TestRestartIOSCallAgain is the Ant Media iOS SDK hanging up and calling
// again on the same socket: its hang-up sends nothing (leave is written
// only when the socket is not connected), then it joins again. The
// partner is told stop (reason restart), then start: it offers, and the
// new call negotiates. Repeated joins while waiting alone change nothing.
func TestRestartIOSCallAgain(t *testing.T) {
	s := start(t)
	ios, peer := wstest.Dial(t, s.URL("WebRTCAppEE")), wstest.Dial(t, s.URL("WebRTCAppEE"))
	ios.Send(iosJoin("r"))
	ios.Expect("notification", "joined")
	ios.Send(iosJoin("r"))
	ios.Expect("notification", "joined")
	ios.Quiet()
	wstest.Join(peer, "r")
	peer.Expect("notification", "joined")
	ios.Expect("start", "")
	ios.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0 first"})
	peer.Expect("takeConfiguration", "")

	for round := range 2 { // hang up and call again, twice
		ios.Send(iosJoin("r"))
		ios.Expect("notification", "joined")
		if m := peer.Expect("stop", ""); m.Str("reason") != "restart" {
			t.Fatalf("round %d: stop = %s", round, keys(m))
		}
		peer.Expect("start", "")
		peer.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0 again"})
		if m := ios.Expect("takeConfiguration", ""); m.Str("sdp") != "v=0 again" {
			t.Fatalf("round %d: ios got %s", round, keys(m))
		}
		ios.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "answer", "sdp": "v=0 answer"})
		if m := peer.Expect("takeConfiguration", ""); m.Str("type") != "answer" {
			t.Fatalf("round %d: peer got %s", round, keys(m))
		}
	}
	ios.Quiet()
	peer.Quiet()
}

// TestRestartDuetSDK: a duet SDK's repeated join (it sends a session)
// keeps a working call: joined with a fresh resume token, nothing to the
// partner. With restart: true it starts the call over like a plain
// member's, the start naming the joiner's session.
func TestRestartDuetSDK(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	_, jb := pairResumable(t, a, b, "r")

	again := joinResumable(b, "r", "sb", "")
	if tok := again.Str("resumeToken"); tok == "" || tok == jb.Str("resumeToken") || again.Str("peerSession") != "sa" {
		t.Fatalf("repeated joined = %s", keys(again))
	}
	a.Quiet() // the call goes on
	b.Send(msg{"command": "peerMessageCommand", "streamId": "r", "definition": "d", "data": "still here"})
	a.Expect("peerMessageCommand", "")

	j := joinMsg("r", "sb", true, "")
	j["restart"] = true
	b.Send(j)
	restarted := b.Expect("notification", "joined")
	if tok := restarted.Str("resumeToken"); tok == "" || tok == again.Str("resumeToken") || restarted.Str("peerSession") != "sa" || restarted["resumed"] != nil {
		t.Fatalf("restart's joined = %s", keys(restarted))
	}
	if m := a.Expect("stop", ""); m.Str("reason") != "restart" {
		t.Fatalf("stop = %s", keys(m))
	}
	if m := a.Expect("start", ""); m.Str("peerSession") != "sb" {
		t.Fatalf("start = %s", keys(m))
	}
	a.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0"})
	if m := b.Expect("takeConfiguration", ""); m.Str("type") != "offer" {
		t.Fatalf("b got %s", keys(m))
	}

	// A wrong type is refused like any known field's, and changes nothing.
	b.Send(msg{"command": "join", "streamId": "r", "session": "sb", "restart": "yes"})
	b.Expect("error", "invalidParameter")
	a.Quiet()
	b.Quiet()
}

// TestLeaveNotInRoom: leave or stop for a room the socket is not in (the
// Android SDK sends leave before every rejoin, on its new socket) is
// answered with leaved, which no Ant Media SDK reports as an error, and
// touches nobody's room.
func TestLeaveNotInRoom(t *testing.T) {
	s := start(t)
	a, b, x := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	for _, cmd := range []string{"leave", "stop"} {
		x.Send(msg{"command": cmd, "streamId": "r"})
		if m := x.Expect("notification", "leaved"); m.Str("streamId") != "r" {
			t.Fatalf("%s: %s", cmd, keys(m))
		}
	}
	a.Quiet()
	b.Quiet()
	a.Send(msg{"command": "peerMessageCommand", "streamId": "r", "definition": "d", "data": "x"})
	b.Expect("peerMessageCommand", "")
	x.Send(msg{"command": "leave", "streamId": "elsewhere"})
	x.Expect("notification", "leaved")
	x.Quiet()
}

// TestRestartWhileHeld: the partner of a member that restarts its call
// has its seat held (a duet SDK whose socket was lost). What was kept for
// it belonged to the negotiation given up and is dropped: back, it gets
// its joined, then the stop and the start, then what was relayed after
// the restart.
func TestRestartWhileHeld(t *testing.T) {
	s := startResume(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	ja := joinResumable(a, "r", "sa", "")
	wstest.Join(b, "r") // an Ant Media SDK
	b.Expect("notification", "joined")
	a.Expect("start", "")
	a.WS.Close()
	s.waitHeld(t, 1)
	b.Send(msg{"command": "takeCandidate", "streamId": "r", "label": 0, "id": "0", "candidate": "old"})
	b.Send(iosJoin("r")) // hangs up and calls again
	b.Expect("notification", "joined")
	b.Send(msg{"command": "peerMessageCommand", "streamId": "r", "definition": "d", "data": "after the restart"})

	a2 := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(a2, "r", "sa", ja.Str("resumeToken")); j["resumed"] != true {
		t.Fatalf("joined = %s", keys(j))
	}
	if m := a2.Expect("stop", ""); m.Str("reason") != "restart" {
		t.Fatalf("stop = %s", keys(m))
	}
	a2.Expect("start", "")
	if m := a2.Expect("peerMessageCommand", ""); m.Str("data") != "after the restart" {
		t.Fatalf("got %s", keys(m))
	}
	a2.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0"})
	b.Expect("takeConfiguration", "")
	a2.Quiet()
	b.Quiet()
	// The dropped frames no longer count against max_held_bytes.
	s.expectStats(t, func(st hub.Stats) bool { return st.Held == 0 && st.KeptBytes == 0 })
}
