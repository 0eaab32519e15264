package e2e

import (
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// TestSDKReconnect: the SDK rejoins its room after the socket is cut, and
// moves to another server when its server drains (server_will_stop), and
// the call comes back each time.
func TestSDKReconnect(t *testing.T) {
	srv1 := startServer(t)
	srv2 := startServer(t)
	px := tcpproxy.Start(t, srv1.Addr)
	browser := browsertest.Browser(t)
	// The page comes from srv1; the SDK's socket goes through the proxy.
	url := roomURL(srv1, "reconnect") + "&ws=ws://" + px.Addr() + "/WebRTCAppEE/websocket"

	alice := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'connected'")
	waitJS(t, bob, "duetDemo.state === 'connected'")

	// 1. The network drops every socket.
	px.Cut()
	waitJS(t, alice, "duetDemo.counts.reconnecting >= 1 && duetDemo.counts.joined >= 2 && duetDemo.state === 'connected'")
	waitJS(t, bob, "duetDemo.counts.reconnecting >= 1 && duetDemo.counts.joined >= 2 && duetDemo.state === 'connected'")
	waitVideoPlaying(t, bob)
	chat(t, alice, bob, "after the drop")

	// 2. srv1 drains: the SDKs get server_will_stop, leave, and rejoin
	// through the proxy, which now leads to srv2.
	px.SetBackend(srv2.Addr)
	start := time.Now()
	srv1.Stop(t)
	t.Logf("srv1 drained in %v", time.Since(start))
	waitJS(t, alice, "duetDemo.log.some(e => e.event === 'serverWillStop') && duetDemo.counts.joined >= 3 && duetDemo.state === 'connected'")
	waitJS(t, bob, "duetDemo.log.some(e => e.event === 'serverWillStop') && duetDemo.counts.joined >= 3 && duetDemo.state === 'connected'")
	if n := srv2.Connections(); n != 2 {
		t.Fatalf("srv2 has %d connections, want 2", n)
	}
	waitVideoPlaying(t, alice)
	chat(t, bob, alice, "on the new server")
	t.Logf("proxy accepted %d connections", px.Connections())
}
