package e2e

import (
	"testing"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// TestDemoCall: two people open the same room, see each other's video and
// chat; one leaves, the other is told, and a third person takes the seat.
func TestDemoCall(t *testing.T) {
	srv := startServer(t)
	browser := browsertest.Browser(t)
	url := roomURL(srv, "demo-call")

	alice := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'connected'")
	waitJS(t, bob, "duetDemo.state === 'connected'")
	waitVideoPlaying(t, alice)
	waitVideoPlaying(t, bob)
	n := framesDecoded(t, bob)
	if n == 0 {
		t.Fatalf("bob decoded no video frames")
	}
	t.Logf("bob decoded %d video frames so far", n)
	chat(t, alice, bob, "hello from alice")
	chat(t, bob, alice, "hi alice, bob here ✓")

	// Alice leaves: Bob is told plainly and waits.
	evalJS[bool](t, alice, "document.getElementById('leave').click(), true")
	waitJS(t, alice, "duetDemo.state === 'closed' && duetDemo.notice.code === 'left'")
	waitJS(t, bob, `duetDemo.counts.peerLeft === 1 && duetDemo.state === 'waiting' &&
		!document.getElementById('notice').hidden && document.getElementById('notice').textContent.includes('left')`)

	// Carol joins the free seat and the call works again.
	carol := openDemo(t, browser, url)
	waitJS(t, carol, "duetDemo.state === 'connected'")
	waitJS(t, bob, "duetDemo.state === 'connected' && duetDemo.counts.connected === 2")
	waitVideoPlaying(t, bob)
	waitVideoPlaying(t, carol)
	chat(t, carol, bob, "carol here")
}

// TestDemoRoomFull: a third person gets a clear "room is full" message and
// the call of the two others is not disturbed. The server here also hands
// out a STUN server, which the SDK must put in its peer connection.
func TestDemoRoomFull(t *testing.T) {
	// Nothing listens there: host candidates still connect on loopback.
	const stun = "stun:127.0.0.1:9"
	srv := startServer(t, func(c *config.Config) { c.StunURI = stun })
	browser := browsertest.Browser(t)
	url := roomURL(srv, "full-room")

	alice := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitJS(t, bob, "duetDemo.state === 'connected'")
	waitJS(t, alice, "duetDemo.state === 'connected'")
	got := evalJS[string](t, alice, "JSON.stringify(duetDemo.call.pc.getConfiguration().iceServers.map(s => s.urls))")
	if want := `[["` + stun + `"]]`; got != want && got != `["`+stun+`"]` {
		t.Errorf("peer connection iceServers %s, want %s from iceServerConfig", got, stun)
	}

	carol := openDemo(t, browser, url)
	waitJS(t, carol, `duetDemo.notice && duetDemo.notice.code === 'NoSpaceForNewPeer' && duetDemo.state === 'closed' &&
		!document.getElementById('notice').hidden && document.getElementById('notice').textContent.includes('room is full') &&
		!document.getElementById('rejoin').hidden`)
	chat(t, alice, bob, "still here")
	waitJS(t, alice, "duetDemo.state === 'connected' && duetDemo.counts.peerLeft === 0")
	waitJS(t, bob, "duetDemo.state === 'connected' && duetDemo.counts.peerLeft === 0")
}
