package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/mobilepeer"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
)

// The Ant Media mobile SDKs around a call (issue #27), with pion peers
// that follow their sequences (internal/testkit/mobilepeer), their timers
// ten times faster: every lifecycle ends in a call whose data channel
// works both ways, within the bound waited for, and no peer ever receives
// an error frame. On the cluster run the peers are on different nodes, and
// an Android that reconnects lands on another node.

// scale divides the SDKs' timers: 3 s → 300 ms, 10 s → 1 s, 5 s → 500 ms.
const scale = 10

// callBound is how long each lifecycle may take to end in a working call
// here (with the timers scaled); the time taken is logged.
const callBound = 15 * time.Second

// TestMobileIOSCallAgain: the iOS SDK hangs up (nothing on the wire) and
// calls again on the same socket, twice: the restart gives the partner
// stop and start, and the call is back. An iOS partner drops its peer
// connection on that stop and offers on the start. An Android partner
// closes its socket on the stop, as on any, and comes back through its
// reconnection (leave and join on a new socket).
func TestMobileIOSCallAgain(t *testing.T) {
	for _, partner := range []mobilepeer.Kind{mobilepeer.IOS, mobilepeer.Android} {
		t.Run("with "+partner.String(), func(t *testing.T) {
			s := start(t)
			ios := mobilepeer.Start(t, mobilepeer.IOS, s.URL("WebRTCAppEE"), "r", scale)
			other := mobilepeer.Start(t, partner, s.URL("WebRTCAppEE"), "r", scale)
			mobilepeer.WaitCall(t, ios, other, "first call", callBound)
			for i := range 2 {
				ios.HangUp()
				ios.JoinAgain(nil)
				t0 := time.Now()
				mobilepeer.WaitCall(t, ios, other, fmt.Sprintf("call again %d", i), callBound)
				t.Logf("call back %v after the call again", time.Since(t0).Round(time.Millisecond))
			}
			mobilepeer.NoErrors(t, ios, other)
			if n := ios.Sockets(); n != 1 {
				t.Errorf("ios opened %d sockets, want its first only", n)
			}
		})
	}
}

// TestMobileAndroidDropAndReconnect: the Android SDK's network drops (its
// socket and its ICE path) for longer than ICE rides out; its
// reconnection sends leave then join on a new socket, and the call is
// back. In "half-open" the server never sees the old socket end: the
// rejoin's probe evicts it.
func TestMobileAndroidDropAndReconnect(t *testing.T) {
	for _, halfOpen := range []bool{false, true} {
		t.Run(map[bool]string{false: "noticed", true: "half-open"}[halfOpen], func(t *testing.T) {
			s := start(t, func(c *config.Config) { c.ProbeTimeout = 300 * time.Millisecond })
			ios := mobilepeer.Start(t, mobilepeer.IOS, s.URL("WebRTCAppEE"), "r", scale)
			proxy := tcpproxy.Start(t, s.nodes[len(s.nodes)-1].Addr)
			android := mobilepeer.Start(t, mobilepeer.Android, proxy.URL("WebRTCAppEE"), "r", scale)
			mobilepeer.WaitCall(t, ios, android, "first call", callBound)
			t0 := time.Now()
			if halfOpen {
				proxy.HalfOpen()
			}
			proxy.SetBackend(s.nodes[0].Addr) // on a cluster, the new socket goes to another node
			android.NetworkDown()
			// The network comes back once the SDK has given its peer
			// connection up (3 s, scaled, after ICE went down).
			mobilepeer.Wait(t, "a rejoin attempt", callBound, func() bool { return android.Attempts() > 0 })
			android.NetworkUp()
			mobilepeer.WaitCall(t, ios, android, "after the drop", callBound)
			t.Logf("call back %v after the drop", time.Since(t0).Round(time.Millisecond))
			mobilepeer.NoErrors(t, ios, android)
			if n := android.Sockets(); n < 2 {
				t.Errorf("android opened %d sockets", n)
			}
		})
	}
}

// TestMobileAndroidStopThenCallAgain: the partner hangs up; the Android
// SDK gets stop and closes its socket; its reconnection rejoins on a new
// socket (leave, then join) and waits; the partner calls again and the
// call is back.
func TestMobileAndroidStopThenCallAgain(t *testing.T) {
	s := start(t)
	android := mobilepeer.Start(t, mobilepeer.Android, s.URL("WebRTCAppEE"), "r", scale)
	first := mobilepeer.Start(t, mobilepeer.IOS, s.URL("WebRTCAppEE"), "r", scale)
	mobilepeer.WaitCall(t, android, first, "first call", callBound)
	first.HangUp()
	first.Close() // the app is gone
	mobilepeer.Wait(t, "android on a new socket", callBound, func() bool { return android.Sockets() >= 2 })
	t0 := time.Now()
	again := mobilepeer.Start(t, mobilepeer.IOS, s.URL("WebRTCAppEE"), "r", scale)
	mobilepeer.WaitCall(t, android, again, "call again", callBound)
	t.Logf("call back %v after the partner called again", time.Since(t0).Round(time.Millisecond))
	mobilepeer.NoErrors(t, android, first, again)
}

// TestMobileAndroidNoAppPings: the Android SDK sends no application ping
// in a peer-to-peer call (it starts its ping timer on publish_started
// only); it relies on the WebSocket's own pings, which its socket library
// answers. Over many idle timeouts its socket and call stay up.
func TestMobileAndroidNoAppPings(t *testing.T) {
	s := start(t, func(c *config.Config) { c.PingInterval, c.IdleTimeout = 100*time.Millisecond, time.Second })
	android := mobilepeer.Start(t, mobilepeer.Android, s.URL("WebRTCAppEE"), "r", scale)
	ios := mobilepeer.Start(t, mobilepeer.IOS, s.URL("WebRTCAppEE"), "r", scale)
	mobilepeer.WaitCall(t, android, ios, "first call", callBound)
	pings := android.Pings()
	mobilepeer.Wait(t, "30 server pings (three idle timeouts)", callBound, func() bool { return android.Pings() >= pings+30 })
	mobilepeer.WaitCall(t, android, ios, "still up", callBound)
	if n := android.Sockets(); n != 1 {
		t.Errorf("android opened %d sockets: its first was dropped", n)
	}
	for _, f := range android.Frames() {
		if strings.Contains(f, `"pong"`) {
			t.Fatalf("android got a pong, so it sent a ping: %s", f)
		}
	}
	mobilepeer.NoErrors(t, android, ios)
}
