package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/ops"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/web"
)

const adminKey = "admin-page-key-0123456789abcdef0123"

const adminDescribe = `JSON.stringify(window.duetAdmin ? {polls: duetAdmin.polls, error: duetAdmin.error, notice: duetAdmin.notice,
	rooms: duetAdmin.rooms.map(r => r.app + '/' + r.room + ':' + r.members.length), login: !document.getElementById('login').hidden,
	loginError: document.getElementById('login-error').textContent} : 'no duetAdmin')`

func startAdminServer(t *testing.T) *testserver.Server {
	t.Helper()
	cfg := testserver.Config()
	cfg.AdminKey = adminKey
	opts := server.Options{Mount: web.Mount}
	x, err := ops.Setup(ops.Options{Config: cfg, NodeID: "node-1", Version: "dev"}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	s := testserver.Start(t, cfg, opts)
	x.Attach(s.Server)
	return s
}

func js[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func waitAdmin(t *testing.T, tab context.Context, expr string) {
	t.Helper()
	browsertest.WaitJS(t, tab, expr, 20*time.Second, adminDescribe)
}

func signIn(t *testing.T, tab context.Context, key string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS("#key")), chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
}

// confirmClick clicks a two-step button twice: arm, then act.
func confirmClick(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	waitAdmin(t, tab, `!!document.querySelector(`+strconv.Quote(sel)+`)`)
	if !js[bool](t, tab, `(b => { b.click(); if (!b.classList.contains('armed')) return false; b.click(); return true; })(document.querySelector(`+strconv.Quote(sel)+`))`) {
		t.Fatalf("%s did not arm on the first click", sel)
	}
}

// TestAdminPage drives the admin page in Chromium: a wrong key is refused,
// the right one shows rooms made by real sockets as they change, the
// figures from the API and /metrics, and its Kick and End buttons reach
// the sockets; the key stays in sessionStorage, never in the URL.
func TestAdminPage(t *testing.T) {
	s := startAdminServer(t)
	resp, err := http.Get(s.HTTP() + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Fatalf("/admin: %d, CSP %q", resp.StatusCode, csp)
	}
	a, b := wstest.Dial(t, s.URL("WebRTCAppEE")), wstest.Dial(t, s.URL("WebRTCAppEE"))
	wstest.Pair(a, b, "standup")

	tab := browsertest.NewTab(t, browsertest.Browser(t))
	if err := chromedp.Do(tab, chromedp.Navigate(s.HTTP()+"/admin")); err != nil {
		t.Fatal(err)
	}
	waitAdmin(t, tab, `!!window.duetAdmin && !document.getElementById('login').hidden`)
	signIn(t, tab, strings.Repeat("x", len(adminKey)))
	waitAdmin(t, tab, `document.getElementById('login-error').textContent.includes('refused') && !document.getElementById('login').hidden`)
	if js[string](t, tab, `sessionStorage.getItem('duetAdminKey') || ''`) != "" {
		t.Fatal("a refused key was kept")
	}

	signIn(t, tab, adminKey)
	waitAdmin(t, tab, `duetAdmin.polls > 0 && !!document.querySelector('tr[data-room="WebRTCAppEE/standup"]')`)
	row := `tr[data-room="WebRTCAppEE/standup"]`
	if n := js[int](t, tab, `document.querySelectorAll('`+row+` li.member').length`); n != 2 {
		t.Fatalf("%d members shown", n)
	}
	waitAdmin(t, tab, `document.querySelector('[data-figure=connections] .value').textContent === '2'`)
	waitAdmin(t, tab, `document.querySelector('[data-figure=calls] .value').textContent === '1'`)
	waitAdmin(t, tab, `document.querySelector('[data-figure=joins] .value').textContent === '2'`) // from /metrics
	if href := js[string](t, tab, `location.href`); strings.Contains(href, adminKey) {
		t.Fatalf("key in the URL: %s", href)
	}
	if js[string](t, tab, `sessionStorage.getItem('duetAdminKey')`) != adminKey || js[string](t, tab, `document.cookie`) != "" {
		t.Fatal("key not kept in sessionStorage only")
	}

	// A room made after the page loaded shows up on its own.
	c := wstest.Dial(t, s.URL("LiveApp"))
	wstest.Join(c, "lobby")
	c.Expect("notification", "joined")
	waitAdmin(t, tab, `!!document.querySelector('tr[data-room="LiveApp/lobby"]')`)

	// Kick b: b gets stop and leaved, a gets stop, the page shows one member.
	member := js[string](t, tab, `document.querySelectorAll('`+row+` li.member')[1].dataset.member`)
	confirmClick(t, tab, row+` li[data-member="`+member+`"] button`)
	if m := b.Expect("stop", ""); m.Str("reason") != "kicked" {
		t.Fatalf("kicked socket got %v", m)
	}
	b.Expect("notification", "leaved")
	a.Expect("stop", "")
	waitAdmin(t, tab, `document.querySelectorAll('`+row+` li.member').length === 1`)

	// End the room: it goes.
	confirmClick(t, tab, row+` td:last-child button`)
	a.Expect("stop", "")
	a.Expect("notification", "leaved")
	waitAdmin(t, tab, `!document.querySelector('`+row+`') && duetAdmin.notice.includes('Ended')`)

	// Still signed in after a reload (the same tab's session); signed out
	// for good after Sign out.
	if err := chromedp.Do(tab, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitAdmin(t, tab, `!!window.duetAdmin && duetAdmin.polls > 0 && document.getElementById('login').hidden`)
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS("#signout"))); err != nil {
		t.Fatal(err)
	}
	waitAdmin(t, tab, `!document.getElementById('login').hidden && sessionStorage.getItem('duetAdminKey') === null`)
}

// TestAdminScreenshot writes docs/admin.png from a live server with a few
// calls: DUET_SCREENSHOTS=1 go test ./e2e -run AdminScreenshot. Without
// the variable it checks the page fits a desktop and a phone width.
func TestAdminScreenshot(t *testing.T) {
	s := startAdminServer(t)
	for _, room := range []string{"standup", "design-review", "support-4821"} {
		x, y := wstest.Dial(t, s.URL("WebRTCAppEE")), wstest.Dial(t, s.URL("WebRTCAppEE"))
		wstest.Pair(x, y, room)
		x.KeepReading()
		y.KeepReading()
	}
	w := wstest.Dial(t, s.URL("LiveApp"))
	wstest.Join(w, "lobby")
	w.Expect("notification", "joined")
	w.KeepReading()
	browser := browsertest.Browser(t)
	for _, size := range []struct {
		name   string
		w, h   int64
		mobile bool
	}{{"admin.png", 1280, 720, false}, {"", 390, 844, true}} {
		tab := browsertest.NewTab(t, browser)
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
		}
		if err := chromedp.Do(tab, chromedp.EmulateViewport(size.w, size.h, opts...), chromedp.Navigate(s.HTTP()+"/admin")); err != nil {
			t.Fatal(err)
		}
		waitAdmin(t, tab, `!!window.duetAdmin`)
		signIn(t, tab, adminKey)
		waitAdmin(t, tab, `duetAdmin.polls > 1 && document.querySelectorAll('#rooms tr').length === 4 && document.querySelector('[data-figure=relayed] .value').textContent !== '–'`)
		waitAdmin(t, tab, "document.documentElement.scrollWidth <= window.innerWidth")
		if size.name == "" || os.Getenv("DUET_SCREENSHOTS") == "" {
			continue
		}
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "docs", size.name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d KB)", path, len(png)/1024)
	}
}
