package server_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// The drift tests: rules that the single-node backend and the cluster
// once implemented each in their own way, and now take from one seat
// state machine (room.Seats). Each runs on one node (go test ./server)
// and on three (DUET_TEST_NODES=3, the cluster suite), and failed on one
// of them before (issue 22).

// TestResumeGetsICEPrelude: with tokens required, a socket's
// getIceServerConfig waits for its join; a join that takes a held seat
// back answers it just before its resumed joined, as an ordinary join
// does (the single node used to lose it).
func TestResumeGetsICEPrelude(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DUET_TEST_NODES"))
	s := startResumeOpts(t, max(n, 1), accessOptions(t))
	tok := roomToken(t, "r")
	a, b := wstest.Dial(t, s.URL("WebRTCAppEE")), wstest.Dial(t, s.URL("WebRTCAppEE"))
	askICE(a)
	a.Send(withToken(joinMsg("r", "sa", true, ""), tok))
	expectMemberICE(t, a, "r")
	a.Expect("notification", "joined")
	b.Send(withToken(joinMsg("r", "sb", true, ""), tok))
	jb := b.Expect("notification", "joined")
	a.Expect("start", "")

	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	b2 := wstest.Dial(t, s.URL("WebRTCAppEE"))
	askICE(b2)
	b2.Quiet() // held until the join
	b2.Send(withToken(joinMsg("r", "sb", true, jb.Str("resumeToken")), tok))
	expectMemberICE(t, b2, "r")
	if j := b2.Expect("notification", "joined"); j["resumed"] != true {
		t.Fatalf("joined %s, want resumed", keys(j))
	}
	a.Expect("notification", "peerReconnected")
	b2.Quiet()
}

// TestKeptStartThenStopCancel: a partner that came and went while a seat
// was held leaves nothing behind: its member comes back to the room as
// it is, without a start and a stop to replay (the single node used to
// replay both; the cluster cancelled them).
func TestKeptStartThenStopCancel(t *testing.T) {
	s := startResume(t)
	a := wstest.Dial(t, s.URL("live"))
	ja := joinResumable(a, "r", "sa", "")
	a.WS.Close()
	s.expectStats(t, func(st hub.Stats) bool { return st.Held == 1 })

	b := wstest.Dial(t, s.URL("live"))
	b.Send(msg{"command": "join", "streamId": "r"})
	b.Expect("notification", "joined")
	b.Send(msg{"command": "leave", "streamId": "r"})
	b.Expect("notification", "leaved")

	a2 := wstest.Dial(t, s.URL("live"))
	j2 := joinResumable(a2, "r", "sa", ja.Str("resumeToken"))
	if j2["resumed"] != true {
		t.Fatalf("joined %s, want resumed", keys(j2))
	}
	a2.Quiet() // no start, no stop

	// The kept start of a partner that stays is delivered, after joined.
	a2.WS.Close()
	s.expectStats(t, func(st hub.Stats) bool { return st.Held == 1 })
	c := wstest.Dial(t, s.URL("live"))
	c.Send(msg{"command": "join", "streamId": "r"})
	c.Expect("notification", "joined")
	a3 := wstest.Dial(t, s.URL("live"))
	if j := joinResumable(a3, "r", "sa", j2.Str("resumeToken")); j["resumed"] != true {
		t.Fatalf("joined %s, want resumed", keys(j))
	}
	a3.Expect("start", "")
	a3.Quiet()
	c.Quiet()
}

func withToken(m msg, tok string) msg {
	m["token"] = tok
	return m
}
