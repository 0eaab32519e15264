// Package firefoxtest runs stock Firefox (Debian's firefox-esr) for tests,
// driven by puppeteer-core over WebDriver BiDi: e2e/js/firefox.mjs, a
// small Node program, launches it and takes commands over HTTP on
// 127.0.0.1; this package starts that driver and speaks to it.
//
//	ff := firefoxtest.Start(t, firefoxtest.Options{})
//	page := ff.Open(t, "http://127.0.0.1:5080/?room=r1")
//	page.WaitJS(t, "duetDemo.state === 'connected'", 20*time.Second, "duetDemo.state")
//	n := firefoxtest.Eval[int](t, page, "duetDemo.counts.joined")
//
// Every page is a window of its own in a browser context of its own (two
// pages are two people), with a fake camera and microphone, no permission
// prompt, host candidates as plain addresses and loopback candidates on,
// and autoplay allowed; Options.Prefs changes that (DefaultAutoplay keeps
// Firefox's default autoplay policy). Options.Command runs the driver in
// another environment, such as a network namespace (netlab's Command).
package firefoxtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Path returns the Firefox binary, or "" when none is installed.
func Path() string {
	if p := os.Getenv("DUET_FIREFOX"); p != "" {
		return p
	}
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Driver is the path of firefox.mjs, found from this source file (tests
// run in the source tree), or DUET_FIREFOX_DRIVER.
func Driver() string {
	if p := os.Getenv("DUET_FIREFOX_DRIVER"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "e2e", "js", "firefox.mjs")
}

// Options configure Start.
type Options struct {
	// Prefs are set in the profile on top of the driver's defaults; a nil
	// value removes a default.
	Prefs map[string]any
	// DefaultAutoplay keeps Firefox's default autoplay policy (audible
	// media does not play without a user gesture) instead of allowing it.
	DefaultAutoplay bool
	// Command, when set, changes the driver's command before it starts:
	// to run it (and so Firefox) in a network namespace, say.
	Command func(*exec.Cmd)
	// Args are extra command-line arguments of Firefox.
	Args []string
}

// Browser is one running Firefox with its driver.
type Browser struct {
	Version string
	base    string
	client  *http.Client
}

// Page is one window of a Browser.
type Page struct {
	b  *Browser
	id int
}

// Start runs the driver and Firefox for the test; both end when the test
// does. A test fails, not skips, when Firefox or the driver's npm packages
// are missing: `make deps` installs them.
func Start(t testing.TB, o Options) *Browser {
	t.Helper()
	ff := Path()
	if ff == "" {
		t.Fatal("firefox not found: run `make deps` (installs Debian's firefox-esr)")
	}
	driver := Driver()
	if _, err := os.Stat(filepath.Join(filepath.Dir(driver), "node_modules", "puppeteer-core")); err != nil {
		t.Fatal("puppeteer-core not installed: run `make deps` (npm ci in e2e/js)")
	}
	prefs := map[string]any{}
	for k, v := range o.Prefs {
		prefs[k] = v
	}
	if o.DefaultAutoplay {
		prefs["media.autoplay.default"] = nil
	}
	conf, _ := json.Marshal(map[string]any{"executable": ff, "profile": t.TempDir(), "prefs": prefs, "args": o.Args})
	cmd := exec.Command("node", driver, string(conf))
	cmd.Dir = filepath.Dir(driver)
	// Should the test binary die, the driver closes Firefox on SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if o.Command != nil {
		o.Command(cmd)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &logWriter{t: t}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the firefox driver: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	type hello struct {
		Port    int
		Version string
	}
	first := make(chan hello, 1)
	go func() {
		var h hello
		if line, err := bufio.NewReader(stdout).ReadBytes('\n'); err == nil {
			json.Unmarshal(line, &h)
		}
		first <- h
	}()
	var h hello
	select {
	case h = <-first:
	case <-time.After(90 * time.Second):
	}
	if h.Port == 0 {
		t.Fatalf("the firefox driver did not start: %s", stderr.String())
	}
	t.Logf("firefox: %s (driver on port %d)", h.Version, h.Port)
	return &Browser{
		Version: h.Version,
		base:    fmt.Sprintf("http://127.0.0.1:%d/", h.Port),
		client:  &http.Client{Timeout: 2 * time.Minute},
	}
}

// Open opens url in a new window of a new browser context and waits for
// its load event.
func (b *Browser) Open(t testing.TB, url string) *Page {
	t.Helper()
	var out struct{ Page int }
	if err := b.do(map[string]any{"op": "open", "url": url}, &out); err != nil {
		t.Fatalf("firefox: open %s: %v", url, err)
	}
	return &Page{b: b, id: out.Page}
}

// ErrDriver wraps what the driver reports as failed (a script error, a
// missing element).
var ErrDriver = errors.New("firefox driver")

func (b *Browser) do(cmd map[string]any, out any) error {
	body, _ := json.Marshal(cmd)
	resp, err := b.client.Post(b.base, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return err
	}
	var e struct{ Error string }
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		return fmt.Errorf("%w: %s", ErrDriver, e.Error)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// Eval evaluates a JavaScript expression in the page (a promise is
// awaited) and returns its value as JSON.
func (p *Page) Eval(expr string) (json.RawMessage, error) {
	var out struct{ Value json.RawMessage }
	err := p.b.do(map[string]any{"op": "eval", "page": p.id, "expr": expr}, &out)
	return out.Value, err
}

// Eval evaluates expr in p and decodes its value into a T; it fails the
// test on error.
func Eval[T any](t testing.TB, p *Page, expr string) T {
	t.Helper()
	var v T
	raw, err := p.Eval(expr)
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		t.Fatalf("firefox: evaluate %s: %v", expr, err)
	}
	return v
}

// Click clicks the element selector matches, as a person would: the
// click is a user gesture (it allows playing audible media).
func (p *Page) Click(t testing.TB, selector string) {
	t.Helper()
	if err := p.b.do(map[string]any{"op": "click", "page": p.id, "selector": selector}, nil); err != nil {
		t.Fatalf("firefox: click %s: %v", selector, err)
	}
}

// WaitJS polls a JavaScript expression until it is true or timeout
// passes, and fails the test with the value of describe otherwise.
func (p *Page) WaitJS(t testing.TB, expr string, timeout time.Duration, describe string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		raw, err := p.Eval(expr)
		if err == nil && string(raw) == "true" {
			return
		}
		select {
		case <-ctx.Done():
			state := ""
			if describe != "" {
				if s, err := p.Eval(describe); err == nil {
					state = string(s)
				}
			}
			t.Fatalf("firefox: timed out after %s waiting for %s (last: %s %v) state: %s", timeout, expr, raw, err, state)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logWriter keeps the driver's output for a failed start and shows it with
// DUET_TEST_LOG.
type logWriter struct {
	t   testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	if w.buf.Len() < 1<<16 {
		w.buf.Write(b)
	}
	w.mu.Unlock()
	if os.Getenv("DUET_TEST_LOG") != "" {
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			w.t.Logf("firefox: %s", l)
		}
	}
	return len(b), nil
}
