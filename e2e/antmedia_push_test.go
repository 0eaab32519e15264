package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/fakepush"
	"github.com/duet-rtc/duet/internal/testkit/hookrecv"
)

// amsPushPage is Ant Media's browser SDK on a page that only keeps what
// its callback is told, for the push commands.
const amsPushPage = `<!doctype html>
<meta charset="utf-8">
<script src="/ams-test/selfie_segmentation.js"></script>
<script src="/ams-test/webrtc_adaptor.js"></script>
<script>
const params = new URLSearchParams(location.search);
window.ams = {events: [], answers: [], errors: []};
window.adaptor = new webrtc_adaptor.WebRTCAdaptor({
  websocket_url: params.get('ws'),
  isPlayMode: true, onlyDataChannel: true,
  callback: (info, obj) => {
    ams.events.push(info);
    if (obj && 'success' in obj) ams.answers.push({info, success: obj.success, definition: obj.definition, information: obj.information});
  },
  callbackError: (error) => { ams.errors.push(String(error)); },
});
</script>`

// TestAntMediaSDKPush: Ant Media's own browser SDK registers a device and
// rings it through duet, with its registerPushNotificationToken and
// sendPushNotification, unchanged: the fake FCM gets the message, and the
// SDK's callback gets the answers as it reads them.
func TestAntMediaSDKPush(t *testing.T) {
	fcm := fakepush.NewFCM(t)
	h := hookrecv.New(qualitySecret)
	nodes := qualityNodes(t, 1, h, func(c *config.Config) {
		c.PushFCMCredentials, c.PushFCMEndpoint, c.PushCAFile = fcm.Credentials, fcm.Server.URL, fakepush.CAFile(t, fcm.Server)
	}, func(mux *http.ServeMux) { amsMount(t, amsPushPage)(mux) })
	browser := browsertest.Browser(t)
	tab := browsertest.NewTab(t, browser)
	if err := chromedp.Do(tab, chromedp.Navigate(nodes[0].HTTP()+"/ams-test/page.html?ws="+nodes[0].URL("WebRTCAppEE"))); err != nil {
		t.Fatal(err)
	}
	describe := `JSON.stringify(window.ams || 'no ams')`
	browsertest.WaitJS(t, tab, `ams.events.includes('initialized')`, 30*time.Second, describe)
	const device = "dEv1ce:APA91-from-the-ams-sdk"
	evalJS[bool](t, tab, `adaptor.registerPushNotificationToken('bob@example.com', '', '`+device+`', 'fcm'), true`)
	browsertest.WaitJS(t, tab, `ams.answers.some(a => a.info === 'registerPushNotificationToken' && a.success === true)`, 30*time.Second, describe)
	evalJS[bool](t, tab, `adaptor.sendPushNotification('alice@example.com', '', {Caller: 'alice@example.com', StreamId: 'room-9'}, ['bob@example.com']), true`)
	browsertest.WaitJS(t, tab, `ams.answers.some(a => a.info === 'sendPushNotification' && a.success === true)`, 30*time.Second, describe)
	msgs := fcm.Messages()
	if len(msgs) != 1 || msgs[0].Token != device || msgs[0].Data["Caller"] != "alice@example.com" || msgs[0].Data["StreamId"] != "room-9" {
		t.Fatalf("FCM got %+v (refused: %v)", msgs, fcm.Bad())
	}
	// A send the SDK's callback reads as a failure: nobody registered.
	evalJS[bool](t, tab, `adaptor.sendPushNotification('alice@example.com', '', {Caller: 'x'}, ['carol@example.com']), true`)
	browsertest.WaitJS(t, tab, `ams.answers.some(a => a.info === 'pushNotificationNotDelivered' && a.success === false)`, 30*time.Second, describe)
}
