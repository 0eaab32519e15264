package e2e

import (
	"context"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// TestGivenUpConnectionIsRebuilt: two tabs in a call; one tab's
// RTCPeerConnection is closed under its SDK (as a browser does to a
// connection it cannot keep), so this connection can never be restored,
// while both people are still in the room. Before, both ended up
// "Waiting for peer" for good. Now the SDK that lost its connection asks
// the server for a new pairing (join with restart: true), the partner is
// told stop (reason restart) and start, offers on a new connection, and
// both decode each other's video again: no tab ever shows "Waiting for
// peer", nobody is told the other left, and the chat works.
func TestGivenUpConnectionIsRebuilt(t *testing.T) {
	srv := startServer(t)
	browser := browsertest.Browser(t)
	url := roomURL(srv, "rebuild")
	alice := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitInCall(t, alice, bob)
	watchCall(t, []string{"alice", "bob"}, alice, bob)
	old := map[string]context.Context{"alice": alice, "bob": bob}
	for name, tab := range old {
		evalJS[bool](t, tab, "(window.oldPC = duetDemo.call.pc, true)")
		_ = name
	}

	evalJS[bool](t, bob, "(duetDemo.call.pc.close(), true)")
	for _, tab := range []context.Context{alice, bob} {
		waitJS(t, tab, "duetDemo.call.pc && duetDemo.call.pc !== window.oldPC && duetDemo.state === 'connected'")
	}
	waitVideoPlaying(t, alice)
	waitVideoPlaying(t, bob)
	for name, tab := range old {
		r := evalJS[string](t, tab, "JSON.stringify({states: watch.states, restarts: duetDemo.counts.callRestart, left: duetDemo.counts.peerLeft})")
		t.Logf("%s: %s", name, r)
		if evalJS[bool](t, tab, "watch.states.includes('waiting')") {
			t.Errorf("%s showed \"Waiting for peer\": %s", name, r)
		}
		if n := evalJS[int](t, tab, "duetDemo.counts.peerLeft"); n != 0 {
			t.Errorf("%s was told the other left (%d times)", name, n)
		}
		if n := evalJS[int](t, tab, "duetDemo.counts.callRestart"); n < 1 {
			t.Errorf("%s saw no call restart", name)
		}
	}
	chat(t, alice, bob, "on a new connection")
	chat(t, bob, alice, "and back")
}
