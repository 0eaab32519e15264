package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestBinaryWithTURNAndTokens runs the real binary with the embedded TURN
// server and room tokens on: a join needs a token from `duet token`,
// getIceServerConfig advertises the embedded TURN with a credential minted
// for the member only once the socket has joined with one (before that:
// an empty answer), and the TURN metrics are on /metrics.
func TestBinaryWithTURNAndTokens(t *testing.T) {
	n := startDuet(t, buildDuet(t), "--turn-enabled", "--turn-listen", "127.0.0.1:0", "--token-secret", testSecret)
	c := wstest.Dial(t, n.url())
	// Tokens are required: the request waits for the join, a refused join
	// gets an empty answer, and the next request waits again.
	c.Send(wstest.Msg{"command": "getIceServerConfig"})
	wstest.Join(c, "r1")
	c.Expect("error", "unauthorized_access")
	if m := c.Expect("iceServerConfig", ""); m.Str("stunServerUri") != "" || m.Str("turnServerUsername") != "" || m["iceServers"] != nil {
		t.Fatalf("a socket without a token got %v", m)
	}
	c.Send(wstest.Msg{"command": "getIceServerConfig"})
	tok, code, stderr := mintCLI(t, nil, "--key", testSecret, "--room", "r1")
	if code != 0 {
		t.Fatalf("duet token: %d %s", code, stderr)
	}
	c.Send(wstest.Msg{"command": "join", "streamId": "r1", "token": tok})
	m := c.Expect("iceServerConfig", "")
	uri := m.Str("stunServerUri")
	if !strings.HasPrefix(uri, "turn:127.0.0.1:") || !strings.HasSuffix(uri, "?transport=udp") ||
		!strings.Contains(m.Str("turnServerUsername"), ":WebRTCAppEE.r1.") || m.Str("turnServerCredential") == "" {
		t.Fatalf("iceServerConfig = %v", m)
	}
	if list, _ := m["iceServers"].([]any); len(list) != 2 {
		t.Fatalf("iceServers = %v, want STUN and TURN entries", m["iceServers"])
	}
	c.Expect("notification", "joined")

	_, body := wstest.HTTPGet(t, fmt.Sprintf("http://%s/metrics", n.addr))
	for _, want := range []string{"duet_turn_allocations 0", "duet_turn_allocations_total 0", `duet_errors_total{definition="unauthorized_access"} 1`,
		`duet_ice_answers_total{result="refused"} 1`, `duet_ice_answers_total{result="servers"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	c.WS.Close()
	n.stop(t)
}
