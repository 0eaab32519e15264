package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/duet-rtc/duet/web"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// TestDuetJSWithAntMediaSDK: duet's demo page (duet.js) and Ant Media's
// own browser SDK, unchanged, in one room, in both orders (so each side
// offers once): video both ways, data both ways, and the hang-up of one
// closes the other's peer connection. The Ant Media SDK sends no session
// and never renegotiates: duet.js must meet it exactly as before.
func TestDuetJSWithAntMediaSDK(t *testing.T) {
	ams := amsMount(t, amsPage)
	srv := testserver.Start(t, config.Default(), server.Options{Mount: func(mux *http.ServeMux) {
		web.Mount(mux)
		ams(mux)
	}})
	browser := browsertest.Browser(t)
	openAMS := func(room string) context.Context {
		tab := browsertest.NewTab(t, browser)
		u := fmt.Sprintf("%s/ams-test/page.html?room=%s&ws=%s", srv.HTTP(), room, srv.URL("WebRTCAppEE"))
		if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
			t.Fatal(err)
		}
		return tab
	}
	amsWait := func(tab context.Context, expr string) {
		t.Helper()
		browsertest.WaitJS(t, tab, expr, 30*time.Second, amsDescribe)
	}
	amsVideo := `(() => { const v = document.getElementById('remote'); return v.videoWidth > 0 && v.currentTime > 0.3; })()`

	for _, amsFirst := range []bool{true, false} {
		name := map[bool]string{true: "ams offers", false: "duet offers"}[amsFirst]
		t.Run(name, func(t *testing.T) {
			room := fmt.Sprintf("ams-duet-%v", amsFirst)
			var a, d context.Context
			if amsFirst {
				a = openAMS(room)
				amsWait(a, `ams.events.includes('joined')`)
				d = openDemo(t, browser, roomURL(srv, room))
			} else {
				d = openDemo(t, browser, roomURL(srv, room))
				waitJS(t, d, "duetDemo.state === 'waiting'")
				a = openAMS(room)
			}
			waitJS(t, d, "duetDemo.state === 'connected'")
			amsWait(a, `ams.events.includes('data_channel_opened')`)
			amsWait(a, amsVideo)
			watchCall(t, []string{"duet"}, d)
			n := evalJS[int](t, d, "watch.frames")
			waitJS(t, d, fmt.Sprintf("watch.frames > %d + 20", n)) // frames presented
			if p := evalJS[bool](t, d, "duetDemo.call.link.polite"); p != amsFirst {
				t.Errorf("duet.js polite = %v, want %v (the side told start is impolite)", p, amsFirst)
			}

			evalJS[bool](t, a, fmt.Sprintf("adaptor.sendData(%q, 'hello from ant media'), true", room))
			waitJS(t, d, "duetDemo.messages.some(m => m.who === 'peer' && m.text === 'hello from ant media')")
			waitJS(t, d, "duetDemo.chatOpen === true")
			evalJS[bool](t, d, "duetDemo.send('hello from duet.js')")
			amsWait(a, `ams.data.includes('hello from duet.js')`)

			if amsFirst {
				evalJS[bool](t, a, fmt.Sprintf("adaptor.leave(%q), true", room))
				waitJS(t, d, "duetDemo.counts.peerLeft === 1 && duetDemo.state === 'waiting' && !duetDemo.call.pc")
			} else {
				evalJS[bool](t, d, "document.getElementById('leave').click(), true")
				amsWait(a, fmt.Sprintf("!adaptor.remotePeerConnection[%q]", room))
			}
			if got := evalJS[string](t, a, "ams.errors.join(',')"); got != "" {
				t.Errorf("Ant Media's SDK reported errors: %s", got)
			}
		})
	}
}
