package client_test

import (
	"errors"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"testing"
	"time"

	"github.com/duet-rtc/duet/client"
)

// TestReconnectAfterSocketCut: alice's signaling socket is cut mid-call
// (the peer connection is not touched). Her client reconnects and rejoins,
// bob is told to stop and then to start again, and the two talk on a new
// session.
func TestReconnectAfterSocketCut(t *testing.T) {
	testReconnect(t, (*tcpproxy.Proxy).Cut)
}

// TestReconnectHalfOpen: the same, but the server keeps alice's old socket
// (half-open, it never answers). Her rejoin finds the room full; the server
// probes, evicts the dead member within its probe timeout, and seats her.
func TestReconnectHalfOpen(t *testing.T) {
	testReconnect(t, (*tcpproxy.Proxy).HalfOpen)
}

func testReconnect(t *testing.T, drop func(*tcpproxy.Proxy)) {
	srv := startServer(t)
	px := tcpproxy.Start(t, srv.Addr)
	events := make(chan client.PeerEvent, 64)
	alice := newPeer(t, dial(t, px.URL("WebRTCAppEE")), "redial", &client.PeerOptions{
		OnEvent: func(e client.PeerEvent) { events <- e },
	})
	bob := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "redial", nil)
	sa, sb := accept(t, alice), accept(t, bob)
	ctx := ctxFor(t)
	sa.SendText(ctx, "before")
	if got := recvText(t, sb); got != "before" {
		t.Fatalf("bob got %q", got)
	}

	start := time.Now()
	drop(px)
	<-sa.Done()
	if !errors.Is(sa.Err(), client.ErrSignalingLost) {
		t.Fatalf("alice's session ended with %v, want ErrSignalingLost", sa.Err())
	}
	waitEvent(t, events, func(e client.PeerEvent) bool { return e.Kind == client.EventJoined && e.Rejoin })
	rejoined := time.Since(start)
	sa2, sb2 := accept(t, alice), accept(t, bob)
	usable := time.Since(start)
	if sb.Err() == nil {
		t.Fatalf("bob's old session still running")
	}
	sb2.SendText(ctx, "after")
	if got := recvText(t, sa2); got != "after" {
		t.Fatalf("alice got %q", got)
	}
	sa2.SendText(ctx, "and back")
	if got := recvText(t, sb2); got != "and back" {
		t.Fatalf("bob got %q", got)
	}
	t.Logf("rejoined %v after the drop, new session open after %v (bob's old session: %v)", rejoined, usable, sb.Err())
	probe := testserverProbeTimeout()
	if rejoined > probe+2*time.Second {
		t.Errorf("rejoin took %v, want within the probe timeout (%v) plus reconnect delay", rejoined, probe)
	}
}

func waitEvent(t *testing.T, events <-chan client.PeerEvent, ok func(client.PeerEvent) bool) client.PeerEvent {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case e := <-events:
			if ok(e) {
				return e
			}
		case <-timeout:
			t.Fatalf("timed out waiting for a peer event")
		}
	}
}
