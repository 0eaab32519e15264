package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/firefoxtest"
)

// A demo page in either browser, for the tests that mix Chromium and
// Firefox: the same checks (the page's duetDemo hook, the call watch of
// calls_helpers_test.go) through chromedp or through the Firefox driver.
type anyTab interface {
	name() string
	// eval evaluates expr (a promise is awaited) and returns its JSON.
	eval(t testing.TB, expr string) json.RawMessage
	wait(t testing.TB, expr string)
}

type chromeTab struct {
	label string
	ctx   context.Context
}

func (c chromeTab) name() string { return c.label }

func (c chromeTab) eval(t testing.TB, expr string) json.RawMessage {
	t.Helper()
	return json.RawMessage(evalAsync[string](t, c.ctx, `Promise.resolve(`+expr+`).then(v => JSON.stringify(v === undefined ? null : v))`))
}

func (c chromeTab) wait(t testing.TB, expr string) {
	t.Helper()
	waitJS(t, c.ctx, expr)
}

type firefoxTab struct {
	label string
	page  *firefoxtest.Page
}

func (f firefoxTab) name() string { return f.label }

func (f firefoxTab) eval(t testing.TB, expr string) json.RawMessage {
	t.Helper()
	raw, err := f.page.Eval(expr)
	if err != nil {
		t.Fatalf("%s: evaluate %s: %v", f.label, expr, err)
	}
	return raw
}

func (f firefoxTab) wait(t testing.TB, expr string) {
	t.Helper()
	f.page.WaitJS(t, expr, waitFor, describe)
}

// openFirefoxDemo opens the demo page in a new Firefox window.
func openFirefoxDemo(t testing.TB, ff *firefoxtest.Browser, label, url string) firefoxTab {
	t.Helper()
	p := ff.Open(t, url)
	p.WaitJS(t, "!!window.duetDemo", waitFor, "document.documentElement.outerHTML.slice(0, 300)")
	return firefoxTab{label: label, page: p}
}

func evalAs[T any](t testing.TB, tab anyTab, expr string) T {
	t.Helper()
	var v T
	raw := tab.eval(t, expr)
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %s = %s: %v", tab.name(), expr, raw, err)
	}
	return v
}

// videoPlaying waits until the tab's remote video shows frames and its
// playback position moves.
func videoPlaying(t testing.TB, tab anyTab) {
	t.Helper()
	const v = `document.getElementById('remote-video')`
	tab.wait(t, v+`.videoWidth > 0 && `+v+`.currentTime > 0 && !`+v+`.paused`)
	t0 := evalAs[float64](t, tab, v+`.currentTime`)
	tab.wait(t, v+`.currentTime > `+strconv.FormatFloat(t0+0.5, 'f', 3, 64))
}

func inCall(t testing.TB, tabs ...anyTab) {
	t.Helper()
	for _, tab := range tabs {
		tab.wait(t, "duetDemo.state === 'connected'")
	}
	for _, tab := range tabs {
		videoPlaying(t, tab)
	}
}

// chatAcross sends text from one tab and waits for it on the other.
func chatAcross(t testing.TB, from, to anyTab, text string) {
	t.Helper()
	from.wait(t, "duetDemo.chatOpen === true")
	q := strconv.Quote(text)
	if !evalAs[bool](t, from, "duetDemo.send("+q+")") {
		t.Fatalf("%s: send %s: data channel not open", from.name(), q)
	}
	to.wait(t, fmt.Sprintf(`duetDemo.messages.some(m => m.who === 'peer' && m.text === %s)`, q))
}

// watchTabs installs the call watch (watchJS) in each tab.
func watchTabs(t testing.TB, tabs ...anyTab) {
	t.Helper()
	for _, tab := range tabs {
		tab.wait(t, "!!(duetDemo.call && duetDemo.call.pc)")
		evalAs[bool](t, tab, watchJS)
	}
}

func resetWatch(t testing.TB, tabs ...anyTab) {
	t.Helper()
	for _, tab := range tabs {
		evalAs[bool](t, tab, "watch.reset()")
	}
}

// checkWatch is callWatch.check for tabs of either browser.
func checkWatch(t testing.TB, label string, maxGapMS float64, tabs ...anyTab) {
	t.Helper()
	for _, tab := range tabs {
		var r watchReport
		if err := json.Unmarshal([]byte(evalAs[string](t, tab, "watch.read()")), &r); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s: largest video pause %.0f ms (%d frames), same peer connection %v, received %v, states %v",
			label, tab.name(), r.Max, r.Frames, r.SamePC, r.In, r.States)
		if !r.SamePC {
			t.Errorf("%s: %s: the call moved to a new RTCPeerConnection", label, tab.name())
		}
		if r.Max > maxGapMS {
			t.Errorf("%s: %s: remote video paused %.0f ms, more than %.0f; page: %s", label, tab.name(), r.Max, maxGapMS,
				tab.eval(t, `duetDemo.log.slice(-25).map(e => (e.t % 100000) + ' ' + e.event + ':' + JSON.stringify(e.detail))`))
		}
		if r.received("stop") {
			t.Errorf("%s: %s: was sent stop: %v", label, tab.name(), r.In)
		}
	}
}
