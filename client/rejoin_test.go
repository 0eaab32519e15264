package client_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/mobilepeer"
)

// events records a Peer's events.
type events struct {
	mu  sync.Mutex
	all []client.PeerEvent
}

func (e *events) add(ev client.PeerEvent) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) count(k client.PeerEventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// exchange sends text both ways on a and b and reads it.
func exchange(t *testing.T, a, b *client.Session, text string) {
	t.Helper()
	ctx := ctxFor(t)
	for _, x := range []struct{ from, to *client.Session }{{a, b}, {b, a}} {
		if err := x.from.SendText(ctx, text); err != nil {
			t.Fatal(err)
		}
		if got := recvText(t, x.to); got != text {
			t.Fatalf("got %q, want %q", got, text)
		}
	}
}

// TestRepeatedJoinKeepsCall: a duet SDK that sends its join again on a
// working call (a retry, a token refresh: its join carries its session and
// no restart) keeps the call: no session ends on either side, and the
// sessions carry data both ways as before.
func TestRepeatedJoinKeepsCall(t *testing.T) {
	srv := startServer(t)
	var ea, eb events
	alice := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "room", &client.PeerOptions{OnEvent: ea.add})
	cb := dial(t, srv.URL("WebRTCAppEE"))
	bob := newPeer(t, cb, "room", &client.PeerOptions{OnEvent: eb.add})
	sa, sb := accept(t, alice), accept(t, bob)
	exchange(t, sa, sb, "before")

	for range 2 {
		if err := cb.Join(ctxFor(t), "room", client.WithSession(bob.SessionID()), client.WithResume()); err != nil {
			t.Fatal(err)
		}
	}
	exchange(t, sa, sb, "after the repeated joins")
	if n := ea.count(client.EventSessionEnd) + eb.count(client.EventSessionEnd); n != 0 {
		t.Fatalf("%d sessions ended; alice %v, bob %v", n, ea.all, eb.all)
	}
	if n := ea.count(client.EventPeerAway) + ea.count(client.EventNegotiating); n != 1 { // the first negotiation
		t.Fatalf("alice saw the repeated joins: %v", ea.all)
	}
}

// TestRestartRenegotiates: a duet-SDK peer gives its peer connection up
// and joins again with restart: true. In "closed" its close reaches the
// Go peer; in "silent" it is lost on the way (a dead path), so the Go
// peer's connection still looks up when the stop (reason restart) comes:
// either way the Go peer's session ends, it offers a new one at the start
// that follows (which names the same partner session), and the new call
// carries data both ways.
func TestRestartRenegotiates(t *testing.T) {
	for _, silent := range []bool{false, true} {
		t.Run(map[bool]string{false: "closed", true: "silent"}[silent], func(t *testing.T) { testRestart(t, silent) })
	}
}

func testRestart(t *testing.T, silent bool) {
	srv := startServer(t)
	var ea events
	alice := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "room", &client.PeerOptions{OnEvent: ea.add})
	bob, err := mobilepeer.New(mobilepeer.Options{Kind: mobilepeer.Plain, URL: srv.URL("WebRTCAppEE"), Room: "room",
		JoinExtra: map[string]any{"session": "bob-session", "resumable": true}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bob.Close)
	if err := bob.Start(); err != nil {
		t.Fatal(err)
	}
	first := accept(t, alice)
	talk := func(s *client.Session, text string) {
		t.Helper()
		if err := s.SendText(ctxFor(t), text); err != nil {
			t.Fatal(err)
		}
		mobilepeer.Wait(t, "bob hears "+text, wait, func() bool { return slices.Contains(bob.Received(), text) })
		mobilepeer.Wait(t, "bob speaks", wait, func() bool { return bob.SendText("bob: " + text) })
		if got := recvText(t, s); got != "bob: "+text {
			t.Fatalf("alice got %q", got)
		}
	}
	talk(first, "first call")

	if silent {
		bob.PathDown()
	}
	bob.JoinAgain(map[string]any{"restart": true})
	t0 := time.Now()
	bob.PathUp()
	second := accept(t, alice)
	if second == first {
		t.Fatal("no new session")
	}
	talk(second, "after the restart")
	t.Logf("new call %v after the restart", time.Since(t0).Round(time.Millisecond))
	select {
	case <-first.Done():
	default:
		t.Fatal("the given-up session is still open")
	}
	mobilepeer.NoErrors(t, bob)
}
