// Package browsertest starts headless Chromium (Debian's package) for tests,
// with the flags that make WebRTC work offline with fake camera and
// microphone, and drives it with chromedp.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary, or "" when none is installed.
func Path() string {
	if p := os.Getenv("DUET_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser starts one Chromium process for the test and returns a context
// for chromedp. Each call of NewTab on it opens an isolated browser context
// (separate cookies and storage), like a second person. The browser is
// closed when the test ends. A test fails, not skips, when Chromium is
// missing: `make test` installs it. extra options are applied last, so they
// can override a default flag (e.g. use-fake-ui-for-media-stream=deny).
func Browser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		t.Fatal("chromium not found: run `make deps` (installs Debian's chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns,Translate,MediaRouter"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		bcancel()
		acancel()
	})
	return bctx
}

// NewTab opens a tab in a fresh browser context of the browser started by
// Browser. It is closed when the test ends.
func NewTab(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	t.Cleanup(cancel)
	return ctx
}

// WaitJS polls a JavaScript expression until it is true or the timeout
// passes, and fails the test with the last value of describe otherwise.
func WaitJS(t testing.TB, ctx context.Context, expr string, timeout time.Duration, describe string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var state string
			if describe != "" {
				state, _ = chromedp.Run(ctx, chromedp.Evaluate[string](describe))
			}
			t.Fatalf("timed out after %s waiting for %s (err=%v) state: %s", timeout, expr, err, state)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("browser context ended waiting for %s", expr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
