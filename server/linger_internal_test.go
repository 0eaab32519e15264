package server

import (
	"context"
	"net"
	"testing"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/wstest"
)

// TestReaderMovesOnAfterQuiet: a reader that worked keeps its goroutine
// with a waiting deadline, moves to a fresh goroutine once the socket has
// been quiet for the linger time, and the socket then works as before,
// relaying and closing cleanly.
func TestReaderMovesOnAfterQuiet(t *testing.T) {
	cfg := config.Default()
	cfg.RateLimit = 0
	cfg.DrainTimeout = 100e6 // the clients are still there when the test stops the server
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.linger = 300e6 // 300 ms: long enough to be seen lingering
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	url := "ws://" + ln.Addr().String() + "/App/websocket"
	a, b := wstest.Dial(t, url), wstest.Dial(t, url)
	wstest.Pair(a, b, "linger")
	conns := func() []*conn {
		s.mu.Lock()
		defer s.mu.Unlock()
		var cs []*conn
		for c := range s.conns {
			cs = append(cs, c)
		}
		return cs
	}
	lingering := func() int {
		n := 0
		for _, c := range conns() {
			if c.lingering.Load() {
				n++
			}
		}
		return n
	}
	for round := range 3 {
		a.Send(wstest.Msg{"command": "takeCandidate", "streamId": "linger", "label": 0, "id": "0", "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host"})
		if m := b.Expect("takeCandidate", ""); m.Str("candidate") == "" {
			t.Fatalf("round %d: relayed candidate lost: %v", round, m)
		}
		// The receiving side relayed nothing and moved on at once; the
		// sender relayed, so its reader waits on its goroutine, then moves
		// on after the quiet time.
		wstest.Eventually(t, "the relaying reader lingering", func() bool { return lingering() == 1 })
		wstest.Eventually(t, "readers moved on after quiet", func() bool { return lingering() == 0 })
	}
	a.Send(wstest.Msg{"command": "leave", "streamId": "linger"})
	a.Expect("notification", "leaved")
	b.Expect("stop", "")
}
