package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

// TestAntMediaSDKInMeshRoom: Ant Media's browser SDK, unchanged, joining a
// mesh room gets what docs/protocol.md says, the error meshClientRequired
// through its error callback, and nothing else: no exception, and the
// members are not disturbed. In a room of two of the same app (its first
// joiner did not ask for more) it calls as ever.
func TestAntMediaSDKInMeshRoom(t *testing.T) {
	cfg := config.Default()
	cfg.MaxPeers = []string{"WebRTCAppEE=4"}
	srv := testserver.Start(t, cfg, server.Options{Mount: amsMount(t, amsPage)})
	browser := browsertest.Browser(t)

	// Two mesh members (duet clients) make "mesh" a mesh room.
	a, b := wstest.Dial(t, srv.URL("WebRTCAppEE")), wstest.Dial(t, srv.URL("WebRTCAppEE"))
	a.Send(wstest.Msg{"command": "join", "streamId": "mesh", "maxPeers": 4})
	a.Expect("notification", "joined")
	b.Send(wstest.Msg{"command": "join", "streamId": "mesh", "maxPeers": 4})
	b.Expect("notification", "joined")
	a.Expect("start", "")

	open := func(room string) context.Context {
		tab := browsertest.NewTab(t, browser)
		u := fmt.Sprintf("%s/ams-test/page.html?room=%s&ws=%s", srv.HTTP(), room, srv.URL("WebRTCAppEE"))
		if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
			t.Fatal(err)
		}
		return tab
	}
	wait := func(tab context.Context, expr string) {
		t.Helper()
		browsertest.WaitJS(t, tab, expr, 30*time.Second, amsDescribe)
	}
	tab := open("mesh")
	wait(tab, `ams.errors.includes('meshClientRequired')`)
	if got := evalJS[string](t, tab, `(ams.events.includes('joined') ? 'joined ' : '') + window.pageErrors.join(',')`); got != "" {
		t.Errorf("the SDK in a mesh room: %s", got)
	}
	a.Quiet()
	b.Quiet()

	// The same app, a room whose first joiner is the SDK: a call of two.
	alice, bob := open("two"), open("two")
	for _, tab := range []context.Context{alice, bob} {
		wait(tab, `(() => { const v = document.getElementById('remote'); return v.videoWidth > 0 && v.currentTime > 0.3; })()`)
	}
}
