package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// maxRestartGap is the bar for a server restart: media flows peer
// to peer, so a restart must not pause it noticeably (0.7-1.4 s before,
// when the SDK rebuilt the connection; about 0.1 s with no fault at all).
const maxRestartGap = 500 * time.Millisecond

// TestCallSurvivesServerRestart: two tabs in a call; the server (the real
// binary) is drained and started again on the same port, then killed
// (kill -9: no drain, no goodbye) and started again. Each time both tabs
// rejoin a server that has forgotten them, recognise each other by their
// session ids and keep their RTCPeerConnection: the remote video never
// pauses longer than 500 ms, nobody is told the other left, and the chat
// (the same data channel) still works.
func TestCallSurvivesServerRestart(t *testing.T) {
	srv := startDuet(t, buildDuet(t), "127.0.0.1:0", "--drain-timeout", "3s")
	browser := browsertest.Browser(t)
	url := srv.http() + "/?room=restart"

	alice := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitInCall(t, alice, bob)
	call := watchCall(t, []string{"alice", "bob"}, alice, bob)
	chat(t, alice, bob, "before the restarts")

	for i, fault := range []string{"drain", "kill"} {
		call.reset()
		start := time.Now()
		if fault == "drain" {
			srv.drain(t)
		} else {
			srv.kill(t)
		}
		srv.restart(t)
		t.Logf("%s: server back after %v", fault, time.Since(start).Round(time.Millisecond))
		rejoined(t, i+2, alice, bob)
		// Measure over a stretch of media after the rejoin too.
		waitVideoPlaying(t, alice)
		waitVideoPlaying(t, bob)
		reports := call.check(fault, maxRestartGap)
		for i, r := range reports {
			if r.received("takeConfiguration") { // the partner offered or answered: not needed
				t.Errorf("%s: %s renegotiated after the restart: %v", fault, call.names[i], r.In)
			}
		}
		chat(t, alice, bob, "after the "+fault)
		chat(t, bob, alice, "still here after the "+fault)
	}
	for _, tab := range []context.Context{alice, bob} {
		if n := evalJS[int](t, tab, "duetDemo.counts.peerLeft"); n != 0 {
			t.Errorf("the demo showed 'peer left' %d times", n)
		}
	}
}

// waitInCall waits until both tabs are connected and see each other's video.
func waitInCall(t testing.TB, a, b context.Context) {
	t.Helper()
	waitJS(t, a, "duetDemo.state === 'connected'")
	waitJS(t, b, "duetDemo.state === 'connected'")
	waitVideoPlaying(t, a)
	waitVideoPlaying(t, b)
}

// rejoined waits until both tabs have joined n times (the first join
// counts) and are in the room and in the call again.
func rejoined(t testing.TB, n int, tabs ...context.Context) {
	t.Helper()
	for _, tab := range tabs {
		waitJS(t, tab, fmt.Sprintf("duetDemo.counts.joined >= %d && duetDemo.call.signaling === 'open' && duetDemo.state === 'connected'", n))
	}
}
