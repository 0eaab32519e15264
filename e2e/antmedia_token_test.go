package e2e

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// amsTokenPage is amsPage with a token. Ant Media's JS SDK join(streamId)
// has no token parameter, so a page passes it one of two ways, chosen by
// the URL's "via": "join" sends the join itself through the SDK's socket
// with a token field (as the mobile SDKs send it); "url" puts the token in
// the WebSocket URL (?token=) and calls the SDK's join unchanged.
var amsTokenPage = strings.Replace(amsPage, `if (info === 'initialized') adaptor.join(room);`,
	`if (info === 'initialized') {
      const token = params.get('token');
      if (token && params.get('via') === 'join') {
        adaptor.webSocketAdaptor.send(JSON.stringify({command: 'join', streamId: room, multiPeer: false, mode: 'both', token}));
      } else {
        adaptor.join(room);
      }
    }`, 1)

// TestAntMediaSDKJoinsWithToken: with a signing key configured, Ant Media's
// published SDK joins and connects when its join carries a token minted
// for the room (in the join, or in the socket URL), and gets
// unauthorized_access without one. Its getIceServerConfig, sent as the
// socket opens, is answered with a TURN credential for the member once it
// has joined with a valid token, and with nothing without one.
func TestAntMediaSDKJoinsWithToken(t *testing.T) {
	if !strings.Contains(amsTokenPage, "params.get('via')") {
		t.Fatal("amsPage changed: the token page could not be derived from it")
	}
	const secret = "browser-test-secret-of-32-bytes-or-more"
	authz, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(secret))})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StunURI = "stun:127.0.0.1:9" // nothing listens; loopback host candidates connect anyway
	const turn = "turn:127.0.0.1:9?transport=udp"
	cfg.TurnURIs, cfg.TurnSecret = []string{turn}, "browser-test-turn-secret"
	srv := testserver.Start(t, cfg, server.Options{Authorizer: authz, Mount: amsMount(t, amsTokenPage)})
	const room = "ams-secured"
	token, err := auth.Mint("HS256", "", []byte(secret), "WebRTCAppEE", room, "", time.Now(), time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	browser := browsertest.Browser(t)
	open := func(token, via string) context.Context {
		tab := browsertest.NewTab(t, browser)
		ws := srv.URL("WebRTCAppEE")
		if via == "url" {
			ws += "?token=" + url.QueryEscape(token)
		}
		q := url.Values{"room": {room}, "ws": {ws}, "token": {token}, "via": {via}}
		if err := chromedp.Do(tab, chromedp.Navigate(srv.HTTP()+"/ams-test/page.html?"+q.Encode())); err != nil {
			t.Fatal(err)
		}
		return tab
	}
	wait := func(tab context.Context, expr string) {
		t.Helper()
		browsertest.WaitJS(t, tab, expr, 30*time.Second, amsDescribe)
	}

	alice := open(token, "join")
	wait(alice, `ams.events.includes('joined')`)
	bob := open(token, "url")
	wait(bob, `ams.events.includes('joined')`)
	for _, tab := range []context.Context{alice, bob} {
		wait(tab, `ams.events.includes('ice:connected') || ams.events.includes('ice:completed')`)
		wait(tab, `ams.events.includes('data_channel_opened')`)
		// The SDK took duet's TURN server, with a credential minted for
		// this member of the room and bound to its token.
		wait(tab, fmt.Sprintf(`adaptor.peerconnection_config.iceServers.some(s => s.urls === %q && /^\d+:WebRTCAppEE\.%s\.[0-9a-f]+@%s$/.test(s.username) && s.credential)`,
			turn, room, regexp.QuoteMeta(auth.TokenID(token))))
	}
	if _, err := chromedp.Run(alice, chromedp.Evaluate[any](fmt.Sprintf(`adaptor.sendData(%q, 'token ok'), 1`, room))); err != nil {
		t.Fatal(err)
	}
	wait(bob, `ams.data.includes('token ok')`)

	carol := open("", "join")
	wait(carol, `ams.errors.includes('unauthorized_access')`)
	if got := evalJS[bool](t, carol, `ams.events.includes('joined')`); got {
		t.Fatal("carol joined without a token")
	}
	if got := evalJS[string](t, carol, `JSON.stringify(adaptor.peerconnection_config.iceServers)`); strings.Contains(got, "turn:") || strings.Contains(got, "127.0.0.1") {
		t.Fatalf("carol, without a token, got ICE servers from duet: %s", got)
	}
}
