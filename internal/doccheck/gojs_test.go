package doccheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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

// The hosts a Go or JavaScript block may name for "the duet server": they
// are pointed at the server the block runs against.
var serverURL = regexp.MustCompile(`\b(wss?|https?)://(?:example\.com|localhost:5080)\b`)

// pointAt rewrites the server URLs of a block to the test server at addr
// (host:port, plain HTTP).
func pointAt(text, addr string) string {
	return serverURL.ReplaceAllStringFunc(text, func(u string) string {
		if strings.HasPrefix(u, "ws") {
			return "ws://" + addr
		}
		return "http://" + addr
	})
}

// harnessed puts a block into its harness (testdata/harness/NAME/FILE),
// at the line that says snippet:here, and returns the program and the
// harness line the block starts at.
func harnessed(t *testing.T, b Block, name, file, text string) (string, int) {
	tmpl, err := os.ReadFile(filepath.Join("testdata", "harness", name, file))
	if err != nil {
		t.Fatalf("%s: harness %q: %v (harnesses are in internal/doccheck/testdata/harness)", b.Where(), name, err)
	}
	lines := strings.Split(string(tmpl), "\n")
	for i, l := range lines {
		if strings.Contains(l, "snippet:here") {
			out := strings.Join(lines[:i], "\n") + "\n" + text + strings.Join(lines[i+1:], "\n")
			return out, i + 1
		}
	}
	t.Fatalf("harness %s/%s has no snippet:here line", name, file)
	return "", 0
}

// docLines rewrites file:LINE references to the program into the doc's
// lines, for the lines that come from the block.
func docLines(msg, file string, first int, b Block) string {
	n := strings.Count(b.Text, "\n")
	re := regexp.MustCompile(regexp.QuoteMeta(file) + `:(\d+)`)
	return re.ReplaceAllStringFunc(msg, func(m string) string {
		var line int
		fmt.Sscanf(m[len(file)+1:], "%d", &line)
		if line >= first && line < first+n {
			return fmt.Sprintf("%s:%d", b.File, b.Line+1+line-first)
		}
		return m
	})
}

// runGo builds a Go block in the scratch module and runs it against a
// fresh server: a whole program as it is, a fragment inside its harness.
func (e *runEnv) runGo(t *testing.T, b Block) {
	srv := testserver.Start(t, testserver.Config(), server.Options{})
	text := pointAt(b.Text, srv.Addr)
	prog := text
	first := 1
	if d, ok := b.Has("harness"); ok {
		prog, first = harnessed(t, b, d.Arg, "main.go", text)
	} else if !strings.Contains(text, "package main") {
		t.Fatalf("%s: a Go block that is not a whole program (package main) needs <!-- snippet: harness NAME --> before it: the harness (internal/doccheck/testdata/harness/NAME/main.go) declares what it uses and checks what it does", b.Where())
	}
	dir, err := os.MkdirTemp(e.mod, "block")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	rel := "./" + filepath.Base(dir)
	build := exec.Command("go", "build", "-o", bin, rel)
	build.Dir = e.mod
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: the Go block does not compile:\n%s%s", b.Where(),
			docLines(string(out), filepath.Join(filepath.Base(dir), "main.go"), first, b), numbered(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run := exec.CommandContext(ctx, bin)
	run.Env = append(os.Environ(), "DUET_DOC_URL="+srv.URL("WebRTCAppEE"), "DUET_DOC_DELIVERIES="+e.hooks.file)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: the Go block failed: %v\n%s", b.Where(), err, out)
	}
	t.Logf("%s: %s", b.Where(), strings.TrimSpace(string(out)))
	if d, ok := b.Has("expect"); ok && !strings.Contains(string(out), d.Arg) {
		t.Errorf("%s: the output lacks %q:\n%s", b.Where(), d.Arg, out)
	}
}

// runJS runs a JavaScript block: with a harness in Node.js, else as a
// module of a page in two Chromium tabs, against a fresh server.
func (e *runEnv) runJS(t *testing.T, b Block) {
	if d, ok := b.Has("harness"); ok {
		e.runNode(t, b, d.Arg)
		return
	}
	srv := testserver.Start(t, testserver.Config(), server.Options{Mount: web.Mount})
	module := pointAt(b.Text, srv.Addr)
	// The page comes from another origin than the server, which serves the
	// SDK there too (/sdk/duet.js), as a page of your own would.
	mux := http.NewServeMux()
	web.Mount(mux)
	mux.HandleFunc("GET /doc/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, jsPage)
	})
	mux.HandleFunc("GET /doc/snippet.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		io.WriteString(w, module)
	})
	pages := httptest.NewServer(mux)
	defer pages.Close()

	var tabs []context.Context
	for range 2 {
		tab := browsertest.NewTab(t, e.browser)
		if err := chromedp.Do(tab, chromedp.Navigate(pages.URL+"/doc/page.html")); err != nil {
			t.Fatal(err)
		}
		tabs = append(tabs, tab)
	}
	const state = "JSON.stringify({done: window.__done, errors: window.__errors, log: window.__log})"
	for _, tab := range tabs {
		browsertest.WaitJS(t, tab, "window.__done || window.__errors.length > 0", 30*time.Second, state)
	}
	if d, ok := b.Has("expect"); ok {
		for _, tab := range tabs {
			browsertest.WaitJS(t, tab, fmt.Sprintf("window.__errors.length > 0 || window.__log.some(l => l.includes(%q))", d.Arg), 30*time.Second, state)
		}
	}
	for i, tab := range tabs {
		got, err := chromedp.Run(tab, chromedp.Evaluate[string](state))
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Errors []string
			Log    []string
		}
		json.Unmarshal([]byte(got), &st)
		if len(st.Errors) > 0 {
			t.Errorf("%s: tab %d: %s\nconsole: %q\n%s", b.Where(), i+1,
				docLines(strings.Join(st.Errors, "\n"), pages.URL+"/doc/snippet.js", 1, b), st.Log, numbered(b))
		} else {
			t.Logf("%s: tab %d printed %q", b.Where(), i+1, st.Log)
		}
	}
}

// jsPage runs /doc/snippet.js as a module. It has the elements the docs'
// examples use (remoteVideo, screenVideo, shareButton, hangUpButton, as
// globals by their ids), resolves the bare '@duet-rtc/sdk' as a bundler
// would, and records console.log, alerts and every uncaught error.
const jsPage = `<!doctype html>
<meta charset="utf-8">
<title>doc snippet</title>
<script type="importmap">{"imports": {"@duet-rtc/sdk": "/sdk/duet.js"}}</script>
<video id="remoteVideo" autoplay playsinline muted></video>
<video id="screenVideo" autoplay playsinline muted></video>
<button id="shareButton">share</button>
<button id="hangUpButton">hang up</button>
<script>
window.__log = [];
window.__errors = [];
window.__done = false;
const log = console.log.bind(console);
console.log = (...a) => { __log.push(a.map(String).join(' ')); log(...a); };
window.alert = (m) => __log.push('alert: ' + m);
addEventListener('error', (e) => __errors.push('uncaught: ' + e.message));
addEventListener('unhandledrejection', (e) => __errors.push('unhandled rejection: ' + (e.reason && e.reason.stack || e.reason)));
</script>
<script type="module">
import('/doc/snippet.js').then(
  () => { window.__done = true; },
  (e) => { __errors.push('the module threw: ' + (e && e.stack || e)); });
</script>
`

// runNode runs a Node.js block inside its harness.
func (e *runEnv) runNode(t *testing.T, b Block, name string) {
	prog, first := harnessed(t, b, name, "main.cjs", b.Text)
	dir := t.TempDir()
	file := filepath.Join(dir, "main.cjs")
	if err := os.WriteFile(file, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", file)
	cmd.Env = append(os.Environ(), "DUET_DOC_DELIVERIES="+e.hooks.file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: the Node.js block failed: %v\n%s", b.Where(), err, docLines(string(out), file, first, b))
	}
	t.Logf("%s: %s", b.Where(), strings.TrimSpace(string(out)))
	if d, ok := b.Has("expect"); ok && !strings.Contains(string(out), d.Arg) {
		t.Errorf("%s: the output lacks %q:\n%s", b.Where(), d.Arg, out)
	}
}

// deliveries are real webhook deliveries of a duet server, in a file the
// verification harnesses read: {"secret": …, "deliveries": [{"headers":
// {…}, "body": "…"}]}.
type deliveries struct{ file string }

func collectDeliveries(t *testing.T) *deliveries {
	const secret = "doc-webhook-secret-0123456789"
	type delivery struct {
		Headers map[string][]string `json:"headers"`
		Body    string              `json:"body"`
	}
	var (
		mu  sync.Mutex
		got []delivery
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{Headers: r.Header.Clone(), Body: string(body)})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	cfg := testserver.Config()
	cfg.WebhookURLs = []string{recv.URL}
	cfg.WebhookSecret = secret
	opts := server.Options{}
	x, err := ops.Setup(ops.Options{Config: cfg, NodeID: "doc"}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the server's drain: what is still queued is dropped
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		x.Close(ctx)
	})
	srv := testserver.Start(t, cfg, opts)
	x.Attach(srv.Server)
	a, c := wstest.Dial(t, srv.URL("WebRTCAppEE")), wstest.Dial(t, srv.URL("WebRTCAppEE"))
	wstest.Pair(a, c, "hooks")
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 { // peer_joined twice and call_started
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d webhook deliveries in 15 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	data, err := json.Marshal(map[string]any{"secret": secret, "deliveries": got})
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "deliveries.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return &deliveries{file: file}
}

// scratchModule is a module of a reader's own that requires duet (this
// tree, through replaces), for the Go blocks.
func scratchModule(t *testing.T, root string) string {
	dir := t.TempDir()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(gomod)
	// The server, the SDK and the wire are modules of their own (go.work):
	// each comes from this tree.
	mod := fmt.Sprintf("module doccheck.example/snippets\n\n%s\n\nrequire (\n", goLine)
	var replaces string
	var sum []byte
	for _, m := range []string{"", "/client", "/protocol"} {
		mod += fmt.Sprintf("\tgithub.com/duet-rtc/duet%s v0.0.0\n", m)
		replaces += fmt.Sprintf("replace github.com/duet-rtc/duet%s => %s%s\n", m, root, m)
		b, err := os.ReadFile(filepath.Join(root+m, "go.sum"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		sum = append(sum, b...)
	}
	mod += ")\n\n" + replaces
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
