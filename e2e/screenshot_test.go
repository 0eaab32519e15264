package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// TestScreenshots regenerates docs/demo-desktop.png and docs/demo-phone.png
// from a live call:
//
//	DUET_SCREENSHOTS=1 go test ./e2e -run Screenshots
//
// Without the variable it still runs the call at both sizes, so a layout
// that breaks the page at phone width fails here, but writes nothing.
func TestScreenshots(t *testing.T) {
	write := os.Getenv("DUET_SCREENSHOTS") != ""
	srv := startServer(t)
	b := browsertest.Browser(t)
	url := roomURL(srv, "standup")

	open := func(w, h int64, scale float64, mobile bool) context.Context {
		tab := browsertest.NewTab(t, b)
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(scale)}
		if mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		if err := chromedp.Do(tab, chromedp.EmulateViewport(w, h, opts...), chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, tab, "!!window.duetDemo")
		return tab
	}
	desktop := open(1280, 800, 1, false)
	waitJS(t, desktop, "duetDemo.state === 'waiting'")
	phone := open(390, 844, 2, true)
	waitJS(t, desktop, "duetDemo.state === 'connected'")
	waitJS(t, phone, "duetDemo.state === 'connected'")
	waitVideoPlaying(t, desktop)
	waitVideoPlaying(t, phone)
	chat(t, desktop, phone, "Hi! Can you hear me?")
	chat(t, phone, desktop, "Loud and clear!")
	chat(t, desktop, phone, "Great, let's start.")

	// Nothing may overflow the viewport sideways at either width.
	for _, tab := range []context.Context{desktop, phone} {
		waitJS(t, tab, "document.documentElement.scrollWidth <= window.innerWidth")
	}
	if !write {
		return
	}
	for name, tab := range map[string]context.Context{"demo-desktop.png": desktop, "demo-phone.png": phone} {
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "docs", name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d KB)", path, len(png)/1024)
	}
}
