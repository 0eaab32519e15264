package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/duet-rtc/duet/web"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/mobilepeer"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// The Ant Media mobile SDKs around a call (issue #27), each paired with
// duet's demo page and with Ant Media's own browser SDK in Chromium. The
// mobile side is a pion peer that follows the SDK's sequences
// (internal/testkit/mobilepeer), its timers ten times faster. Every
// lifecycle must end in a call whose data channel works both ways and
// whose browser camera reaches the mobile peer, within mobileBound, with
// no error frame for the mobile peer and no error in the page.

// mobileScale divides the SDKs' timers: 3 s → 300 ms, 10 s → 1 s, 5 s → 500 ms.
const mobileScale = 10

// mobileBound is how long each lifecycle may take here to end in a working
// call; the time taken is logged.
const mobileBound = 30 * time.Second

// browserPeer is the browser side of a call: duet's demo page or a page
// running Ant Media's SDK.
type browserPeer struct {
	t    *testing.T
	tab  context.Context
	ams  bool
	room string
}

func (b *browserPeer) js(expr string) bool {
	v, err := chromedp.Run(b.tab, chromedp.Evaluate[bool](expr))
	return err == nil && v
}

// send sends text on the call's data channel, reporting whether one was open.
func (b *browserPeer) send(text string) bool {
	q := strconv.Quote(text)
	if b.ams {
		return b.js(fmt.Sprintf(`(() => { try { adaptor.sendData(%q, %s); return true; } catch (e) { return false; } })()`, b.room, q))
	}
	return b.js(fmt.Sprintf(`duetDemo.chatOpen === true && duetDemo.send(%s)`, q))
}

func (b *browserPeer) received(text string) bool {
	q := strconv.Quote(text)
	if b.ams {
		return b.js(fmt.Sprintf(`ams.data.includes(%s)`, q))
	}
	return b.js(fmt.Sprintf(`duetDemo.messages.some(m => m.who === 'peer' && m.text === %s)`, q))
}

// errors are the errors the page's SDK reported.
func (b *browserPeer) errors() string {
	if b.ams {
		return evalJS[string](b.t, b.tab, `ams.errors.join(',')`)
	}
	return evalJS[string](b.t, b.tab, `duetDemo.log.filter(e => e.event === 'error').map(e => JSON.stringify(e.detail)).join(',')`)
}

func (b *browserPeer) describe() string {
	if b.ams {
		return evalJS[string](b.t, b.tab, amsDescribe)
	}
	return evalJS[string](b.t, b.tab, describe)
}

// hangUp leaves the call as the page's user does.
func (b *browserPeer) hangUp() {
	if b.ams {
		evalJS[bool](b.t, b.tab, fmt.Sprintf(`adaptor.leave(%q), true`, b.room))
		return
	}
	evalJS[bool](b.t, b.tab, `document.getElementById('leave').click(), true`)
}

// callAgain joins again after hangUp: Ant Media's SDK on its socket, the
// demo page by its rejoin button (a reload: a new socket).
func (b *browserPeer) callAgain() {
	if b.ams {
		evalJS[bool](b.t, b.tab, fmt.Sprintf(`adaptor.join(%q), true`, b.room))
		return
	}
	evalJS[bool](b.t, b.tab, `document.getElementById('rejoin').click(), true`)
	browsertest.WaitJS(b.t, b.tab, "!!window.duetDemo && !!duetDemo.call", waitFor, "document.title")
}

// waitBrowserCall waits until the browser and the mobile peer exchange tag
// over the data channel both ways and the browser's camera reaches the
// mobile peer, sending again at every poll until each text arrives.
func waitBrowserCall(t *testing.T, b *browserPeer, m *mobilepeer.Peer, tag string) time.Duration {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(mobileBound)
	fromB, fromM := tag+" from the browser", tag+" from "+m.Kind().String()
	rtp := m.RTPPackets()
	for !slices.Contains(m.Received(), fromB) || !b.received(fromM) || m.RTPPackets() < rtp+50 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no call within %v\n  mobile %s\n  browser %s", tag, mobileBound, m.Describe(), b.describe())
		}
		if !slices.Contains(m.Received(), fromB) {
			b.send(fromB)
		}
		if !b.received(fromM) {
			m.SendText(fromM)
		}
		time.Sleep(100 * time.Millisecond) // the polling interval of a condition wait
	}
	return time.Since(t0)
}

func noBrowserErrors(t *testing.T, b *browserPeer, m *mobilepeer.Peer) {
	t.Helper()
	mobilepeer.NoErrors(t, m)
	if e := b.errors(); e != "" {
		t.Errorf("the page's SDK reported errors: %s", e)
	}
}

// TestMobileLifecyclesWithBrowsers runs each mobile lifecycle against
// each browser partner: iOS hangs up and calls again on its socket;
// Android's network drops and it reconnects (leave, then join, on a new
// socket); Android gets stop when the browser hangs up, closes its socket,
// rejoins on a new one, and the browser calls again.
func TestMobileLifecyclesWithBrowsers(t *testing.T) {
	ams := amsMount(t, amsPage)
	cfg := config.Default()
	cfg.StunURI = "stun:127.0.0.1:9" // nothing listens: Ant Media's SDK keeps no public STUN server offline
	srv := testserver.Start(t, cfg, server.Options{Mount: func(mux *http.ServeMux) {
		web.Mount(mux)
		ams(mux)
	}})
	browser := browsertest.Browser(t)
	open := func(t *testing.T, useAMS bool, room string) *browserPeer {
		b := &browserPeer{t: t, ams: useAMS, room: room}
		if useAMS {
			b.tab = browsertest.NewTab(t, browser)
			u := fmt.Sprintf("%s/ams-test/page.html?room=%s&ws=%s", srv.HTTP(), room, srv.URL("WebRTCAppEE"))
			if err := chromedp.Do(b.tab, chromedp.Navigate(u)); err != nil {
				t.Fatal(err)
			}
			browsertest.WaitJS(t, b.tab, `ams.events.includes('joined')`, waitFor, amsDescribe)
		} else {
			b.tab = openDemo(t, browser, roomURL(srv, room))
			waitJS(t, b.tab, "duetDemo.state === 'waiting' || duetDemo.state === 'connected'")
		}
		return b
	}
	for _, useAMS := range []bool{false, true} {
		partner := map[bool]string{false: "demo", true: "antmedia"}[useAMS]

		t.Run("ios call again with "+partner, func(t *testing.T) {
			room := "ios-" + partner
			b := open(t, useAMS, room)
			ios := mobilepeer.Start(t, mobilepeer.IOS, srv.URL("WebRTCAppEE"), room, mobileScale)
			t.Logf("first call in %v", waitBrowserCall(t, b, ios, "first call").Round(time.Millisecond))
			for i := range 2 {
				ios.HangUp()
				ios.JoinAgain(nil)
				t.Logf("call again %d: back in %v", i, waitBrowserCall(t, b, ios, fmt.Sprintf("call again %d", i)).Round(time.Millisecond))
			}
			noBrowserErrors(t, b, ios)
			if n := ios.Sockets(); n != 1 {
				t.Errorf("ios opened %d sockets, want its first only", n)
			}
		})

		t.Run("android drop with "+partner, func(t *testing.T) {
			room := "drop-" + partner
			b := open(t, useAMS, room)
			proxy := tcpproxy.Start(t, srv.Addr)
			android := mobilepeer.Start(t, mobilepeer.Android, proxy.URL("WebRTCAppEE"), room, mobileScale)
			waitBrowserCall(t, b, android, "first call")
			t0 := time.Now()
			android.NetworkDown()
			mobilepeer.Wait(t, "a rejoin attempt", mobileBound, func() bool { return android.Attempts() > 0 })
			android.NetworkUp()
			waitBrowserCall(t, b, android, "after the drop")
			t.Logf("call back %v after the drop", time.Since(t0).Round(time.Millisecond))
			noBrowserErrors(t, b, android)
			if n := android.Sockets(); n < 2 {
				t.Errorf("android opened %d sockets", n)
			}
		})

		t.Run("android stop with "+partner, func(t *testing.T) {
			room := "stop-" + partner
			b := open(t, useAMS, room)
			android := mobilepeer.Start(t, mobilepeer.Android, srv.URL("WebRTCAppEE"), room, mobileScale)
			waitBrowserCall(t, b, android, "first call")
			t0 := time.Now()
			b.hangUp()
			mobilepeer.Wait(t, "android on a new socket", mobileBound, func() bool { return android.Sockets() >= 2 })
			b.callAgain()
			waitBrowserCall(t, b, android, "call again")
			t.Logf("call back %v after the hang-up", time.Since(t0).Round(time.Millisecond))
			noBrowserErrors(t, b, android)
		})
	}
}
