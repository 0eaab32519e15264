package server_test

import (
	"strings"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/config"
)

// TestBadInput sends each kind of bad message and checks its documented
// answer, and that the socket stays usable afterwards.
func TestBadInput(t *testing.T) {
	s := start(t)
	c := wstest.Dial(t, s.URL("live"))
	cases := []struct {
		name, frame, def, streamID string
	}{
		{"join without streamId", `{"command":"join"}`, "noStreamNameSpecified", ""},
		{"join with empty streamId", `{"command":"join","streamId":""}`, "noStreamNameSpecified", ""},
		{"illegal characters", `{"command":"join","streamId":"a b/c"}`, "invalidStreamName", ""},
		{"streamId too long", `{"command":"join","streamId":"` + strings.Repeat("x", 129) + `"}`, "invalidStreamName", ""},
		{"streamId of the wrong type", `{"command":"join","streamId":42}`, "invalidParameter", ""},
		{"label of the wrong type", `{"command":"takeCandidate","streamId":"r","label":{}}`, "invalidParameter", ""},
		{"unknown command", `{"command":"publish","streamId":"r"}`, "unsupportedCommand", ""},
		{"no command", `{"streamId":"r"}`, "missingParameter", ""},
		{"malformed JSON", `{"command":"join",`, "invalidJSON", ""},
		{"not an object", `"join"`, "invalidJSON", ""},
		{"relay outside any room", `{"command":"takeCandidate","streamId":"r","label":0,"id":"0","candidate":"c"}`, "no_peer_associated_before", "r"},
		{"offer without sdp", `{"command":"takeConfiguration","streamId":"r","type":"offer"}`, "missingParameter", "r"},
		{"configuration of unknown type", `{"command":"takeConfiguration","streamId":"r","type":"rollback","sdp":"x"}`, "missingParameter", "r"},
		{"leave without streamId", `{"command":"leave"}`, "noStreamNameSpecified", ""},
		{"relay without streamId", `{"command":"peerMessageCommand","data":"x"}`, "noStreamNameSpecified", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.T = t
			c.Send(tc.frame)
			e := c.Expect("error", tc.def)
			if e.Str("streamId") != tc.streamID {
				t.Fatalf("error streamId = %q, want %q", e.Str("streamId"), tc.streamID)
			}
			c.Quiet()
		})
	}
}

func TestRelayNeedsAFullRoomAndMembership(t *testing.T) {
	s := start(t)
	a, b, x := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Join(a, "r")
	a.Expect("notification", "joined")
	a.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0"})
	a.Expect("error", "no_peer_associated_before") // waiting alone
	wstest.Join(b, "r")
	b.Expect("notification", "joined")
	a.Expect("start", "")
	x.Send(msg{"command": "takeCandidate", "streamId": "r", "label": 0, "id": "0", "candidate": "c"})
	x.Expect("error", "no_peer_associated_before") // not a member
	a.Quiet()
	b.Quiet()
}

func TestPingAndIceServerConfig(t *testing.T) {
	s := start(t)
	c := wstest.Dial(t, s.URL("live"))
	c.Send(`{"command":"ping"}`)
	c.Expect("pong", "")
	c.Send(`{"command":"getIceServerConfig"}`)
	m := c.Expect("iceServerConfig", "")
	for _, k := range []string{"stunServerUri", "turnServerUsername", "turnServerCredential"} {
		if v, ok := m[k].(string); !ok || v != "" {
			t.Fatalf("%s = %#v, want empty string", k, m[k])
		}
	}

	s2 := start(t, func(c *config.Config) {
		c.StunURI, c.TurnUsername, c.TurnCredential = "turn:127.0.0.1:3478", "user", "pass"
	})
	c2 := wstest.Dial(t, s2.URL("live"))
	c2.Send(`{"command":"getIceServerConfig"}`)
	m = c2.Expect("iceServerConfig", "")
	if m.Str("stunServerUri") != "turn:127.0.0.1:3478" || m.Str("turnServerUsername") != "user" || m.Str("turnServerCredential") != "pass" {
		t.Fatalf("iceServerConfig = %v", m)
	}
}

func TestBinaryFrameCloses1003(t *testing.T) {
	s := start(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	if err := b.WS.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if code, text := b.Closed(); code != websocket.CloseUnsupportedData || text == "" {
		t.Fatalf("close = %d %q, want 1003 with a reason", code, text)
	}
	a.Expect("stop", "") // the partner is told, and is otherwise untouched
	a.Quiet()
}

func TestOversizedMessage(t *testing.T) {
	s := start(t, func(c *config.Config) { c.MaxMessageBytes = 64 << 10 })
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	// Exactly at the limit passes.
	frame := `{"command":"peerMessageCommand","streamId":"r","definition":"d","data":"`
	frame += strings.Repeat("x", 64<<10-len(frame)-2) + `"}`
	a.Send(frame)
	b.Expect("peerMessageCommand", "")
	a.Send(strings.Replace(frame, `"data":"`, `"data":"xx`, 1))
	a.Expect("error", "messageTooLarge")
	if code, text := a.Closed(); code != websocket.CloseMessageTooBig || text == "" {
		t.Fatalf("close = %d %q, want 1009 with a reason", code, text)
	}
	b.Expect("stop", "")
}

func TestRepeatedInvalidJSONCloses(t *testing.T) {
	s := start(t)
	c := wstest.Dial(t, s.URL("live"))
	for range 10 {
		c.Send("{nope")
	}
	for range 10 {
		c.Expect("error", "invalidJSON")
	}
	if code, _ := c.Closed(); code != websocket.CloseInvalidFramePayloadData {
		t.Fatalf("close code = %d, want 1007", code)
	}
	// Invalid messages interleaved with valid ones reset the streak.
	d := wstest.Dial(t, s.URL("live"))
	for range 30 {
		d.Send("{nope")
		d.Expect("error", "invalidJSON")
		d.Quiet()
	}
}

func TestRateLimit(t *testing.T) {
	s := start(t, func(c *config.Config) { c.RateLimit, c.RateBurst = 1, 20 })
	c := wstest.Dial(t, s.URL("live"))
	for range 20 { // the burst passes
		c.Send(`{"command":"ping"}`)
	}
	for range 20 {
		c.Expect("pong", "")
	}
	for range 50 { // then a flood is refused, and the socket closed
		c.Send(`{"command":"ping"}`)
	}
	c.Expect("error", "rateLimited")
	if code, text := c.Closed(); code != websocket.ClosePolicyViolation || text == "" {
		t.Fatalf("close = %d %q, want 1008", code, text)
	}
}

func TestMaxConnections(t *testing.T) {
	s := startSingle(t, func(c *config.Config) { c.MaxConnections = 2 })
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	a.Quiet()
	b.Quiet()
	c := wstest.Dial(t, s.URL("live"))
	c.Expect("error", "highResourceUsage")
	if code, _ := c.Closed(); code != websocket.CloseTryAgainLater {
		t.Fatalf("close code = %d, want 1013", code)
	}
	a.WS.Close()
	wstest.Eventually(t, "a slot to free", func() bool { return s.Connections() == 1 })
	d := wstest.Dial(t, s.URL("live"))
	d.Quiet()
}

func TestBadAppIs404(t *testing.T) {
	s := startSingle(t)
	for _, app := range []string{"bad.app", strings.Repeat("a", 65)} {
		if _, resp, err := websocket.DefaultDialer.Dial(s.URL(app), nil); err == nil || resp == nil || resp.StatusCode != 404 {
			t.Fatalf("app %q: err %v resp %v, want 404", app, err, resp)
		}
	}
}

func TestAllowedOrigins(t *testing.T) {
	s := startSingle(t, func(c *config.Config) { c.AllowedOrigins = []string{"https://good.example"} })
	h := map[string][]string{"Origin": {"https://evil.example"}}
	if _, resp, err := websocket.DefaultDialer.Dial(s.URL("live"), h); err == nil || resp.StatusCode != 403 {
		t.Fatalf("evil origin: err %v resp %v, want 403", err, resp)
	}
	h["Origin"] = []string{"https://good.example"}
	ws, _, err := websocket.DefaultDialer.Dial(s.URL("live"), h)
	if err != nil {
		t.Fatalf("good origin: %v", err)
	}
	ws.Close()
}
