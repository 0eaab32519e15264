package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// peerLeftRuns is how many hang-ups TestPeerLeftReason makes: the reason
// once came out wrong in about half of the runs.
const peerLeftRuns = 20

// TestPeerLeftReason: when the partner hangs up (leave()), peerLeft says
// left — not closed, which the closing of the partner's connection (its
// DTLS close reaching us directly, before the server's stop with the
// reason) used to make it say in about half of the runs. Data-channel
// calls, no media, so that 20 of them take seconds.
func TestPeerLeftReason(t *testing.T) {
	srv := startServer(t)
	browser := browsertest.Browser(t)
	tabs := [2]context.Context{}
	for i := range tabs {
		tabs[i] = browsertest.NewTab(t, browser)
		if err := chromedp.Do(tabs[i], chromedp.Navigate(srv.HTTP()+"/healthz")); err != nil {
			t.Fatal(err)
		}
		evalAsync[bool](t, tabs[i], `import('/sdk/duet.js').then(m => { window.duet = m; return true; })`)
	}
	ws := srv.URL("WebRTCAppEE")
	var reasons []string
	for run := range peerLeftRuns {
		room := fmt.Sprintf("left%d", run)
		for _, tab := range tabs {
			evalJS[bool](t, tab, fmt.Sprintf(`(() => {
				window.call = new duet.DuetCall({url: %q, room: %q});
				window.left = [];
				window.opened = false;
				call.on('peerLeft', (d) => left.push(d.reason));
				call.on('channelOpen', () => { opened = true; });
				call.connect();
				return true;
			})()`, ws, room))
		}
		for _, tab := range tabs {
			browsertest.WaitJS(t, tab, "opened", waitFor, "JSON.stringify({state: call.state, left})")
		}
		leaver, stayer := tabs[run%2], tabs[1-run%2]
		evalJS[bool](t, leaver, "call.leave(), true")
		browsertest.WaitJS(t, stayer, "left.length > 0", waitFor, "JSON.stringify({state: call.state, left})")
		reasons = append(reasons, evalJS[string](t, stayer, "left.join(',')"))
		evalJS[bool](t, stayer, "call.leave(), true")
	}
	t.Logf("peerLeft reasons of %d hang-ups: %s", peerLeftRuns, strings.Join(reasons, " "))
	for i, r := range reasons {
		if r != "left" {
			t.Errorf("run %d: peerLeft reason %q, want left", i, r)
		}
	}
}
