package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duet-rtc/duet/web"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// tokenPage makes a call whose token option is a function, as an app
// does that fetches short-lived room tokens from its backend: it keeps
// the last token and fetches a new one only when the SDK says the old
// one was refused (refresh). State in window.t.
const tokenPage = `<!doctype html><meta charset="utf-8"><title>token refresh test</title>
<script type="module">
import { DuetCall } from '/sdk/duet.js';
const q = new URLSearchParams(location.search);
const room = q.get('room');
const t = window.t = { fetches: 0, asked: [], errors: [], state: 'idle', messages: [], joins: [] };
let cached = null;
async function token({ refresh }) {
  t.asked.push(refresh);
  if (q.get('bad')) return 'not-a-token';
  if (!cached || refresh) {
    t.fetches++;
    cached = await (await fetch('/test/token?room=' + room)).text();
  }
  return cached;
}
const localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
const call = t.call = new DuetCall({ url: q.get('ws'), room, localStream, token });
call.on('state', ({ state }) => { t.state = state; });
call.on('joined', ({ resumed }) => t.joins.push(resumed));
call.on('error', ({ definition, retrying }) => t.errors.push(definition + (retrying ? ':retrying' : '')));
call.on('message', ({ text }) => t.messages.push(text));
call.on('closed', ({ reason }) => { t.closed = reason; });
await call.connect().catch(() => {});
</script>`

const tokenDescribe = `JSON.stringify(window.t ? {state: t.state, fetches: t.fetches, asked: t.asked, errors: t.errors, joins: t.joins, messages: t.messages} : 'no t')`

// TestTokenRefreshOnRejoin: with the real JWT authorizer and two-second
// room tokens, Alice's socket is cut after her token expired. Her rejoin
// is refused (authenticationTokenNotValid); the SDK asks her token
// function for a fresh one and joins again, taking her held seat back:
// same peer connection, Bob told nothing but peerReconnecting and
// peerReconnected.
func TestTokenRefreshOnRejoin(t *testing.T) {
	const secret = "browser-token-refresh-secret-of-32-bytes"
	const ttl = 2 * time.Second
	authz, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(secret))})
	if err != nil {
		t.Fatal(err)
	}
	var minted atomic.Int64
	var lastExpiry atomic.Int64
	cfg := config.Default()
	srv := testserver.Start(t, cfg, server.Options{Authorizer: authz, Mount: func(mux *http.ServeMux) {
		web.Mount(mux)
		mux.HandleFunc("GET /test/call", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(tokenPage))
		})
		mux.HandleFunc("GET /test/token", func(w http.ResponseWriter, r *http.Request) {
			now := time.Now()
			tok, err := auth.Mint("HS256", "", []byte(secret), "WebRTCAppEE", r.URL.Query().Get("room"), "", now, ttl, 0)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			minted.Add(1)
			lastExpiry.Store(now.Add(ttl).Unix())
			w.Write([]byte(tok))
		})
	}})
	px := tcpproxy.Start(t, srv.Addr)
	browser := browsertest.Browser(t)
	const room = "token-refresh"
	open := func(ws string) context.Context {
		tab := browsertest.NewTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(fmt.Sprintf("%s/test/call?room=%s&ws=%s", srv.HTTP(), room, ws))); err != nil {
			t.Fatal(err)
		}
		return tab
	}
	wait := func(tab context.Context, expr string) {
		t.Helper()
		browsertest.WaitJS(t, tab, expr, waitFor, tokenDescribe)
	}
	alice := open(px.URL("WebRTCAppEE"))
	wait(alice, "t.state === 'waiting'")
	bob := open(srv.URL("WebRTCAppEE"))
	for _, tab := range []context.Context{alice, bob} {
		wait(tab, "t.state === 'connected' && t.call.channel && t.call.channel.readyState === 'open'")
		evalJS[bool](t, tab, "window.pc0 = t.call.pc, window.sig = [], t.call.on('signal', ({dir, msg}) => dir === 'in' && sig.push(msg.command + ':' + (msg.definition || msg.reason || ''))), true")
	}

	// Every token minted so far expires (JWT expiry has one-second
	// resolution): wait for the clock, then cut Alice's socket.
	deadline := time.Unix(lastExpiry.Load()+1, 0)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	before := minted.Load()
	px.Cut()
	wait(alice, "t.joins.length === 2 && t.state === 'connected'")
	if got := evalJS[string](t, alice, "t.errors.join(',')"); got != "authenticationTokenNotValid:retrying" {
		t.Errorf("alice's errors: %q, want one refused token, retried", got)
	}
	if got := evalJS[string](t, alice, "JSON.stringify(t.asked)"); got != "[false,false,true]" {
		t.Errorf("token function asked with refresh %s, want [false,false,true] (join, rejoin, retry)", got)
	}
	if minted.Load() != before+1 {
		t.Errorf("%d tokens fetched for the rejoin, want 1", minted.Load()-before)
	}
	if !evalJS[bool](t, alice, "t.joins[1] === true && t.call.pc === pc0") {
		t.Errorf("alice did not take her seat back on the same peer connection: joins %s", evalJS[string](t, alice, "JSON.stringify(t.joins)"))
	}
	if got := evalJS[string](t, bob, "sig.filter(s => !s.startsWith('ping') && !s.startsWith('pong') && !s.startsWith('takeCandidate')).join(',')"); got != "notification:peerReconnecting,notification:peerReconnected" {
		t.Errorf("bob received %q, want peerReconnecting and peerReconnected only", got)
	}
	evalJS[bool](t, alice, "t.call.send('fresh token, same call'), true")
	wait(bob, "t.messages.includes('fresh token, same call') && t.call.pc === pc0")

	// A token refused on the very first join is final: no retry.
	carol := open(srv.URL("WebRTCAppEE") + "&bad=1")
	wait(carol, "t.closed === 'authenticationTokenNotValid'")
	if got := evalJS[string](t, carol, "JSON.stringify([t.asked, t.errors])"); got != `[[false],["authenticationTokenNotValid"]]` {
		t.Errorf("carol: token asked / errors %s, want one try and no retry", got)
	}
}
