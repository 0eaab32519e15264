package doccheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/netlab"
)

// runEnv is what the blocks run with, set up once for the whole test.
type runEnv struct {
	root    string
	bin     string           // a directory holding the duet binary, first on the shell blocks' PATH
	ns      *netlab.Isolated // where shell blocks run
	nsTab   context.Context  // Chromium inside ns, for "open"
	browser context.Context  // Chromium on the host, for JS blocks
	goenv   []string         // GOCACHE, GOMODCACHE, GOPATH of this machine
	mod     string           // the scratch module Go blocks are built in
	hooks   *deliveries      // real webhook deliveries, for the verification snippets
	noNS    error            // why shell blocks cannot run here (not root), or nil
}

func newRunEnv(t *testing.T, root string, need map[string]bool) *runEnv {
	e := &runEnv{root: root}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		e.goenv = append(e.goenv, k+"="+strings.TrimSpace(string(out)))
	}
	if need["sh"] && netlab.Available() != nil {
		// Like the other tests that need root: said, not hidden.
		e.noNS = netlab.Available()
		need["sh"], need["open"] = false, false
	}
	if need["sh"] {
		e.bin = t.TempDir()
		build := exec.Command("go", "build", "-o", filepath.Join(e.bin, "duet"), "./cmd/duet")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build duet: %v\n%s", err, out)
		}
		e.ns = netlab.NewIsolated(t, "dcdoc")
	}
	if need["open"] {
		// The pages a server prints are opened from inside its namespace,
		// as on the reader's machine; a self-signed certificate is
		// accepted, as the reader does after checking its fingerprint.
		e.nsTab = browsertest.Browser(t,
			chromedp.Flag("ignore-certificate-errors", true),
			chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { e.ns.Command(cmd) }))
	}
	if need["browser"] {
		e.browser = browsertest.Browser(t)
	}
	if need["go"] || need["js"] {
		e.hooks = collectDeliveries(t)
	}
	if need["go"] {
		e.mod = scratchModule(t, root)
	}
	return e
}

// shellEnv is the environment of a shell block: this machine's Go caches
// (a `go run` there builds as fast as here), the module proxy off (there
// is no network), a home of the session's own, and no DUET_* variable of
// the test's.
func (e *runEnv) shellEnv(home string) []string {
	env := []string{
		"PATH=" + e.bin + ":" + os.Getenv("PATH"),
		"HOME=" + home,
		"GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=",
		"LANG=C.UTF-8", "TERM=dumb",
	}
	return append(env, e.goenv...)
}

// openURL finds the pages a server's start-up message says to open.
var (
	openHere  = regexp.MustCompile(`open on this machine:\s+(\S+)`)
	openThere = regexp.MustCompile(`open on another device:\s+(\S+)`)
)

// openCall does what the block's server told the reader: open its page in
// two tabs (the second at the address for another device, when there is
// one) and see the call connect.
func (e *runEnv) openCall(t *testing.T, b Block, printed string, logs func() string) {
	here := openHere.FindStringSubmatch(printed)
	if here == nil {
		t.Fatalf("%s: the server printed no \"open on this machine\" URL:\n%s\nits log:\n%s", b.Where(), printed, logs())
	}
	urls := []string{here[1], here[1]}
	if there := openThere.FindStringSubmatch(printed); there != nil {
		urls[1] = there[1]
	}
	var tabs []context.Context
	for _, u := range urls {
		tab := browsertest.NewTab(t, e.nsTab)
		if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
			t.Fatalf("%s: open %s: %v", b.Where(), u, err)
		}
		tabs = append(tabs, tab)
	}
	for i, tab := range tabs {
		browsertest.WaitJS(t, tab, "!!window.duetDemo && duetDemo.state === 'connected'", 60*time.Second,
			"(window.duetDemo ? JSON.stringify({state: duetDemo.state, notice: duetDemo.notice}) : document.title) + ' server log: ' + "+strconv.Quote(lastLines(logs(), 20)))
		t.Logf("%s: %s is in the call", b.Where(), urls[i])
	}
	for _, tab := range tabs {
		_, _ = chromedp.Run(tab, chromedp.Evaluate[bool]("!!(duetDemo.call && (duetDemo.call.leave(), true))"))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
