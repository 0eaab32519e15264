package ops_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/hookrecv"
	"github.com/duet-rtc/duet/internal/testkit/opsnodes"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

const hookSecret = "borrow-test-webhook-secret"

// TestWebhookRoomIsNotBorrowed is issue #20's first finding: a held seat
// that overflows while its partner relays is given up from inside the
// relay, and the events that report it must name the room they happened
// in, not whatever the relaying socket's read buffer holds by the time
// the webhook sender encodes them. The receiver holds the sender's
// workers until the relaying socket has sent more frames (naming another
// room at the same place), so the events are encoded after the buffer was
// read into again; under -race the old code also reports the race.
func TestWebhookRoomIsNotBorrowed(t *testing.T) {
	for _, backend := range []string{"local", "cluster"} {
		t.Run(backend, func(t *testing.T) { testWebhookRoomIsNotBorrowed(t, backend == "cluster") })
	}
}

func testWebhookRoomIsNotBorrowed(t *testing.T, clustered bool) {
	h := hookrecv.Gated(hookSecret)
	recv := httptest.NewServer(h)
	t.Cleanup(recv.Close)
	opened := false
	open := func() {
		if !opened {
			opened = true
			h.Open()
		}
	}
	t.Cleanup(open) // before recv.Close: nothing stays blocked

	c := testserver.Config()
	c.WebhookURLs, c.WebhookSecret = []string{recv.URL}, hookSecret
	c.ReconnectGrace = time.Minute
	srv := opsnodes.Start(t, 1, c, opsnodes.Options{Clustered: clustered})[0]

	// Four joins elsewhere keep the sender's four workers waiting at the gate.
	rooms := map[string]bool{"victim-room": true}
	for _, r := range []string{"fill-1", "fill-2", "fill-3", "fill-4"} {
		f := wstest.Dial(t, srv.URL("app"))
		f.Send(map[string]any{"command": "join", "streamId": r})
		f.Expect("notification", "joined")
		rooms[r] = true
	}

	a, b := wstest.Dial(t, srv.URL("app")), wstest.Dial(t, srv.URL("app"))
	a.Send(map[string]any{"command": "join", "streamId": "victim-room", "session": "sa", "resumable": true})
	a.Expect("notification", "joined")
	b.Send(map[string]any{"command": "join", "streamId": "victim-room", "session": "sb", "resumable": true})
	b.Expect("notification", "joined")
	a.Expect("start", "")
	a.WS.Close() // lost without leave: a's seat is held
	b.Expect("notification", "peerReconnecting")

	// b relays more than the hold may keep, the last of it in small frames
	// that are read into the socket's read buffer: the hold is given up
	// from inside one of those relays, and b is told stop.
	big, small := strings.Repeat("x", 200<<10), strings.Repeat("y", 4<<10)
	for range 4 {
		b.Send(map[string]any{"command": "peerMessageCommand", "streamId": "victim-room", "definition": "d", "data": big})
	}
	for range 80 {
		b.Send(map[string]any{"command": "peerMessageCommand", "streamId": "victim-room", "definition": "d", "data": small})
	}
	for m := b.Read(); m.Str("command") != "stop"; m = b.Read() {
	}
	// Frames of the same shape naming another room, read into the same
	// buffer: a borrowed room name now reads "other-roomz".
	for i := range 64 {
		b.Send(map[string]any{"command": "peerMessageCommand", "streamId": "other-roomz", "definition": "d", "data": small[:i*61]})
	}
	for n := 0; n < 64; {
		if m := b.Read(); m.Str("command") == "error" && m.Str("streamId") == "other-roomz" {
			n++
		}
	}
	open()

	// 4 fills, 2 joins, call_started, then peer_left and call_ended.
	wstest.Eventually(t, "9 webhook events", func() bool { return len(h.Payloads()) >= 9 })
	for _, p := range h.Payloads() {
		t.Logf("%s %q %s", p.Event, p.Room, p.Reason)
	}
	ended := 0
	for _, p := range h.Payloads() {
		if !rooms[p.Room] {
			t.Errorf("%s event names room %q (%q), a room nobody was in", p.Event, p.Room, []byte(p.Room))
		}
		if p.Event == "call_ended" {
			ended++
			if p.Room != "victim-room" || p.Reason != "timeout" {
				t.Errorf("call_ended = room %q reason %q, want victim-room timeout", p.Room, p.Reason)
			}
		}
	}
	if ended != 1 {
		t.Errorf("%d call_ended events, want 1", ended)
	}
	if bad := h.Bad(); bad != 0 {
		t.Errorf("%d webhook requests failed verification", bad)
	}
}
