package e2e

import (
	"testing"
	"time"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
)

// TestCallSurvivesSocketCut: Alice's signaling socket goes through a TCP
// proxy, Bob's straight to the server. The proxy cuts Alice's socket with
// the server alive: she reconnects and takes her held seat back; Bob is
// told she is reconnecting and back, never stop, and the call goes on on
// the same peer connections. Then Alice stays away past the reconnect
// grace: Bob is sent stop (reason timeout) but keeps the connection that
// still carries the media; when Alice comes back as a new member, the two
// recognise each other and carry on without renegotiating.
func TestCallSurvivesSocketCut(t *testing.T) {
	const grace = 3 * time.Second
	srv := startServer(t, func(c *config.Config) { c.ReconnectGrace = grace })
	px := tcpproxy.Start(t, srv.Addr)
	browser := browsertest.Browser(t)
	url := roomURL(srv, "cut")

	alice := openDemo(t, browser, url+"&ws="+px.URL("WebRTCAppEE"))
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitInCall(t, alice, bob)
	call := watchCall(t, []string{"alice", "bob"}, alice, bob)

	// 1. A cut, and Alice is back within the grace.
	px.Cut()
	waitJS(t, alice, "duetDemo.counts.joined === 2 && duetDemo.call.signaling === 'open'")
	waitJS(t, bob, "watch.in.includes('notification:peerReconnected')")
	waitVideoPlaying(t, bob)
	waitVideoPlaying(t, alice)
	rs := call.check("socket cut", maxRestartGap)
	if !rs[0].received("notification:joined") || !evalJS[bool](t, alice, "duetDemo.log.some(e => e.event === 'joined' && e.detail.resumed)") {
		t.Errorf("alice did not take her seat back: %v", rs[0].In)
	}
	if !rs[1].received("notification:peerReconnecting") {
		t.Errorf("bob was not told alice was reconnecting: %v", rs[1].In)
	}
	chat(t, alice, bob, "back on a new socket")
	if n := evalJS[int](t, bob, "duetDemo.counts.peerLeft"); n != 0 {
		t.Errorf("bob's page showed 'peer left' %d times", n)
	}

	// 2. Alice cannot reconnect for longer than the grace.
	call.reset()
	px.SetBackend("127.0.0.1:1") // nothing listens: the proxy drops her new sockets
	px.Cut()
	waitJS(t, bob, "watch.in.includes('stop:timeout')")
	waitJS(t, bob, "duetDemo.log.some(e => e.event === 'peerSignalingLost')")
	waitVideoPlaying(t, bob)
	for _, tab := range []struct {
		name  string
		state string
	}{{"alice", evalJS[string](t, alice, "duetDemo.state")}, {"bob", evalJS[string](t, bob, "duetDemo.state")}} {
		if tab.state != "connected" {
			t.Errorf("%s's call is %q while the media still flows", tab.name, tab.state)
		}
	}
	if !evalJS[bool](t, bob, "watch.pc === duetDemo.call.pc && duetDemo.call.pc.connectionState === 'connected'") {
		t.Errorf("bob lost the peer connection after stop:timeout")
	}
	chat(t, alice, bob, "the server forgot me, the call did not")

	// Alice's route comes back: her token is worthless now, so she joins
	// as a newcomer; the session ids tell both it is the same partner.
	px.SetBackend(srv.Addr)
	waitJS(t, alice, "duetDemo.call.signaling === 'open' && duetDemo.state === 'connected'")
	waitJS(t, bob, "watch.in.includes('start')")
	waitVideoPlaying(t, bob)
	for i, r := range []watchReport{call.read(0), call.read(1)} {
		t.Logf("grace ran out: %s: largest video pause %.0f ms, same peer connection %v, received %v", call.names[i], r.Max, r.SamePC, r.In)
		if !r.SamePC || r.Max > float64(maxRestartGap.Milliseconds()) || r.received("takeConfiguration") {
			t.Errorf("%s: the call did not carry on untouched", call.names[i])
		}
	}
	chat(t, bob, alice, "welcome back")
}
