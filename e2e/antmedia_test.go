package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// amsSDK is Ant Media's published browser SDK as npm installs it (make
// deps runs npm ci in e2e/js), loaded unchanged; amsMediapipe is the
// dependency its browser bundle expects as a global, loaded before it as
// Ant Media's own sample pages do.
var (
	amsSDK       = filepath.Join("js", "node_modules", "@antmedia", "webrtc_adaptor", "dist", "browser", "webrtc_adaptor.js")
	amsMediapipe = filepath.Join("js", "node_modules", "@mediapipe", "selfie_segmentation", "selfie_segmentation.js")
)

// amsPage is a page as an Ant Media peer-to-peer sample writes it: the
// SDK's WebRTCAdaptor pointed at duet, joining the room in the URL once the
// socket is up. It records callbacks for the test in window.ams.
const amsPage = `<!doctype html>
<meta charset="utf-8">
<video id="local" autoplay muted playsinline></video>
<video id="remote" autoplay playsinline></video>
<script>window.pageErrors = []; addEventListener('error', e => pageErrors.push(String(e.message))); addEventListener('unhandledrejection', e => pageErrors.push(String(e.reason)));</script>
<script src="/ams-test/selfie_segmentation.js"></script>
<script src="/ams-test/webrtc_adaptor.js"></script>
<script>
const params = new URLSearchParams(location.search);
const room = params.get('room');
window.ams = {events: [], errors: [], data: []};
window.adaptor = new webrtc_adaptor.WebRTCAdaptor({
  websocket_url: params.get('ws'),
  mediaConstraints: {video: true, audio: true},
  sdp_constraints: {OfferToReceiveAudio: false, OfferToReceiveVideo: false},
  localVideoId: 'local',
  remoteVideoId: 'remote',
  isPlayMode: false,
  debug: true,
  callback: (info, obj) => {
    ams.events.push(info);
    if (info === 'initialized') adaptor.join(room);
    if (info === 'data_received') ams.data.push(obj.data);
    if (info === 'ice_connection_state_changed') ams.events.push('ice:' + obj.state);
  },
  callbackError: (error, message) => { ams.errors.push(String(error)); },
});
</script>`

const amsDescribe = `JSON.stringify({events: ams.events.slice(-20), errors: ams.errors, data: ams.data,
	ws: adaptor.webSocketAdaptor ? {connected: adaptor.webSocketAdaptor.connected, url: adaptor.webSocketAdaptor.websocketURL} : null,
	stream: !!(adaptor.mediaManager && adaptor.mediaManager.localStream), pageErrors: window.pageErrors || []})`

// amsMount serves page at /ams-test/page.html with Ant Media's SDK (and
// the script it expects beside it) from e2e/js/node_modules.
func amsMount(t testing.TB, page string) func(*http.ServeMux) {
	t.Helper()
	sdk, err := os.ReadFile(amsSDK)
	if err != nil {
		t.Fatalf("Ant Media SDK not installed (run make deps): %v", err)
	}
	mediapipe, err := os.ReadFile(amsMediapipe)
	if err != nil {
		t.Fatalf("Ant Media SDK dependency not installed (run make deps): %v", err)
	}
	return func(mux *http.ServeMux) {
		mux.HandleFunc("GET /ams-test/page.html", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(page))
		})
		for name, body := range map[string][]byte{"webrtc_adaptor.js": sdk, "selfie_segmentation.js": mediapipe} {
			mux.HandleFunc("GET /ams-test/"+name, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
				w.Write(body)
			})
		}
	}
}

// TestAntMediaSDKCall runs Ant Media's own browser SDK, unchanged, against
// duet: two pages join a room, connect, see video and exchange data over
// the SDK's data channel; a third is refused; one leaves and the other's
// peer connection is closed by the server's stop.
func TestAntMediaSDKCall(t *testing.T) {
	const stun = "stun:127.0.0.1:9" // nothing listens; loopback host candidates connect anyway
	cfg := config.Default()
	cfg.StunURI = stun
	srv := testserver.Start(t, cfg, server.Options{Mount: amsMount(t, amsPage)})
	browser := browsertest.Browser(t)
	const room = "ams-p2p"
	open := func() context.Context {
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

	alice := open()
	wait(alice, `ams.events.includes('initialized') && ams.events.includes('joined')`)
	// The SDK asked for ICE servers on open and took duet's answer.
	wait(alice, fmt.Sprintf(`JSON.stringify(adaptor.peerconnection_config.iceServers) === JSON.stringify([{urls: %q}])`, stun))

	bob := open()
	wait(bob, `ams.events.includes('joined')`)
	for _, tab := range []context.Context{alice, bob} {
		wait(tab, `ams.events.includes('ice:connected') || ams.events.includes('ice:completed')`)
		wait(tab, `ams.events.includes('data_channel_opened')`)
		wait(tab, `(() => { const v = document.getElementById('remote'); return v.videoWidth > 0 && v.currentTime > 0.3; })()`)
	}
	if _, err := chromedp.Run(alice, chromedp.Evaluate[any](`adaptor.sendData('ams-p2p', 'hello from alice'), 1`)); err != nil {
		t.Fatal(err)
	}
	wait(bob, `ams.data.includes('hello from alice')`)
	if _, err := chromedp.Run(bob, chromedp.Evaluate[any](`adaptor.sendData('ams-p2p', 'hi alice'), 1`)); err != nil {
		t.Fatal(err)
	}
	wait(alice, `ams.data.includes('hi alice')`)

	carol := open()
	wait(carol, `ams.errors.includes('NoSpaceForNewPeer')`)

	if _, err := chromedp.Run(alice, chromedp.Evaluate[any](`adaptor.leave('ams-p2p'), 1`)); err != nil {
		t.Fatal(err)
	}
	wait(alice, `ams.events.includes('leaved')`)
	// duet sends bob stop; the SDK closes its peer connection for the room.
	wait(bob, `!adaptor.remotePeerConnection['ams-p2p']`)
	if got := evalJS[string](t, bob, `ams.errors.join(',')`); got != "" {
		t.Errorf("bob's SDK reported errors: %s", got)
	}
}
