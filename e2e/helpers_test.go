package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/duet-rtc/duet/web"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

const waitFor = 20 * time.Second

// describe is what a failed wait prints about a tab: the demo's state,
// notice, counters and recent log.
const describe = `JSON.stringify(window.duetDemo ? {state: duetDemo.state, notice: duetDemo.notice,
	counts: duetDemo.counts, media: duetDemo.media, messages: duetDemo.messages,
	log: duetDemo.log.slice(-12).map(e => e.event + ':' + JSON.stringify(e.detail))} : 'no duetDemo')`

// startServer runs a duet server that also serves this package's files.
func startServer(t testing.TB, change ...func(*config.Config)) *testserver.Server {
	t.Helper()
	cfg := config.Default()
	cfg.DrainTimeout = 5 * time.Second
	for _, f := range change {
		f(&cfg)
	}
	return testserver.Start(t, cfg, server.Options{Mount: web.Mount})
}

// openDemo opens the demo page in a new isolated tab.
func openDemo(t testing.TB, browser context.Context, url string) context.Context {
	t.Helper()
	tab := browsertest.NewTab(t, browser)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	browsertest.WaitJS(t, tab, "!!window.duetDemo", waitFor, "document.documentElement.outerHTML.slice(0, 300)")
	return tab
}

func waitJS(t testing.TB, tab context.Context, expr string) {
	t.Helper()
	browsertest.WaitJS(t, tab, expr, waitFor, describe)
}

func evalJS[T any](t testing.TB, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func evalAsync[T any](t testing.TB, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitVideoPlaying waits until the remote video shows decoded frames and
// its playback position keeps moving, i.e. media really flows.
func waitVideoPlaying(t testing.TB, tab context.Context) {
	t.Helper()
	const v = `document.getElementById('remote-video')`
	waitJS(t, tab, v+`.videoWidth > 0 && `+v+`.currentTime > 0`)
	t0 := evalJS[float64](t, tab, v+`.currentTime`)
	waitJS(t, tab, v+`.currentTime > `+strconv.FormatFloat(t0+0.5, 'f', 3, 64))
}

// framesDecoded reads the inbound video frame count from getStats.
func framesDecoded(t testing.TB, tab context.Context) int {
	t.Helper()
	return evalAsync[int](t, tab, `(async () => {
		const pc = duetDemo.call && duetDemo.call.pc;
		let n = 0;
		if (pc) (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0; });
		return n;
	})()`)
}

// chat sends text from one tab and waits for it on the other.
func chat(t testing.TB, from, to context.Context, text string) {
	t.Helper()
	waitJS(t, from, "duetDemo.chatOpen === true")
	q := strconv.Quote(text)
	if !evalJS[bool](t, from, "duetDemo.send("+q+")") {
		t.Fatalf("send %s: data channel not open", q)
	}
	waitJS(t, to, fmt.Sprintf(`duetDemo.messages.some(m => m.who === 'peer' && m.text === %s) &&
		[...document.querySelectorAll('#messages li.peer')].some(li => li.textContent === %s)`, q, q))
}

func roomURL(srv *testserver.Server, room string) string {
	return srv.HTTP() + "/?room=" + room
}
