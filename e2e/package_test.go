package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

const pkgVersion = "v9.8.7-pkgtest"

// TestSDKPackage is the SDK as a user's project gets it: the package file
// scripts/sdk-pack.sh makes (what a release attaches) is installed with npm
// into a new project, which type-checks against it with tsc --strict and
// bundles it with esbuild; the bundle, on a page of another origin than
// the server, makes a call in two Chromium tabs.
func TestSDKPackage(t *testing.T) {
	tools := filepath.Join("js", "node_modules", ".bin")
	tsc, esbuild := filepath.Join(tools, "tsc"), filepath.Join(tools, "esbuild")
	for _, p := range []string{tsc, esbuild} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v (make deps installs e2e/js's npm packages)", p, err)
		}
	}
	tsc, _ = filepath.Abs(tsc)
	esbuild, _ = filepath.Abs(esbuild)

	dist := t.TempDir()
	pack := exec.Command("../scripts/sdk-pack.sh")
	pack.Env = append(os.Environ(), "VERSION="+pkgVersion, "DIST="+dist)
	out, err := pack.CombinedOutput()
	if err != nil {
		t.Fatalf("sdk-pack.sh: %v\n%s", err, out)
	}
	tarball := strings.TrimSpace(string(out))
	if want := filepath.Join(dist, "duet-rtc-sdk-9.8.7-pkgtest.tgz"); tarball != want {
		t.Fatalf("sdk-pack.sh made %q, want %s", tarball, want)
	}
	// Every file of the SDK is in the package (package.json's files).
	want := []string{"package/LICENSE", "package/package.json"}
	sdk, _ := filepath.Glob("../web/sdk/*.js")
	types, _ := filepath.Glob("../web/sdk/*.d.ts")
	for _, f := range append(sdk, types...) {
		want = append(want, "package/"+filepath.Base(f))
	}
	slices.Sort(want)
	if files := tarFiles(t, tarball); !slices.Equal(files, want) {
		t.Errorf("the package holds %v, want %v (package.json's files)", files, want)
	}

	proj := t.TempDir()
	write(t, proj, "package.json", `{"name": "a-users-app", "private": true, "type": "module"}`)
	npm(t, proj, "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball)
	var installed struct{ Name, Version string }
	if err := json.Unmarshal(readFile(t, filepath.Join(proj, "node_modules", "@duet-rtc", "sdk", "package.json")), &installed); err != nil ||
		installed.Name != "@duet-rtc/sdk" || installed.Version != strings.TrimPrefix(pkgVersion, "v") {
		t.Fatalf("installed %+v, %v", installed, err)
	}

	write(t, proj, "tsconfig.json", `{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2022",
		"module": "esnext", "moduleResolution": "bundler", "lib": ["es2022", "dom"]}, "include": ["main.ts"]}`)
	write(t, proj, "main.ts", appTS)
	run(t, proj, tsc, "-p", ".")
	// The check has teeth: a wrong use of the SDK's types does not pass.
	write(t, proj, "main.ts", appTS+"\ncall.on('message', ({ txt }) => console.log(txt));\nnew DuetCall({ url: 'ws://x' });\n")
	if out, err := exec.Command(tsc, "-p", proj).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "txt") || !strings.Contains(string(out), "room") {
		t.Fatalf("tsc accepted a wrong use of the SDK: %v\n%s", err, out)
	}
	write(t, proj, "main.ts", appTS)
	run(t, proj, esbuild, "main.ts", "--bundle", "--format=esm", "--target=es2022", "--outfile=app.js", "--log-level=warning")
	bundle := string(readFile(t, filepath.Join(proj, "app.js")))
	if !strings.Contains(bundle, "DuetCall: url and room are required") || regexp.MustCompile(`(?m)^\s*import\b`).MatchString(bundle) {
		t.Fatalf("the bundle does not hold the SDK:\n%.400s", bundle)
	}

	srv := startServer(t)
	write(t, proj, "index.html", `<!doctype html><meta charset="utf-8"><title>a user's app</title><script type="module" src="app.js"></script>`)
	site := httptest.NewServer(http.FileServer(http.Dir(proj)))
	defer site.Close()
	page := site.URL + "/index.html?room=pkg&ws=" + srv.URL("WebRTCAppEE")
	browser := browsertest.Browser(t)
	var tabs []context.Context
	for range 2 {
		tab := browsertest.NewTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		tabs = append(tabs, tab)
	}
	for _, tab := range tabs {
		browsertest.WaitJS(t, tab, "window.got === 'hello from the bundle'", 30*time.Second, "JSON.stringify(window.app || null)")
	}
}

// appTS is a user's app: it joins the room in the page's URL on the
// server it names, says hello once the data channel is open, and keeps
// what it heard.
const appTS = `import { DuetCall, DuetError, type DuetEvents, type PeerLeftReason } from '@duet-rtc/sdk';

const params = new URLSearchParams(location.search);
const call = new DuetCall({ url: params.get('ws') ?? '', room: params.get('room') ?? 'lobby' });
const seen: { state: string; left: PeerLeftReason[]; errors: string[] } = { state: call.state, left: [], errors: [] };
(window as unknown as { app: typeof seen }).app = seen;
call.on('state', ({ state }) => { seen.state = state; });
call.on('channelOpen', () => call.send('hello from the bundle'));
call.on('message', ({ text }: DuetEvents['message']) => {
  (window as unknown as { got: string | null }).got = text;
});
call.on('peerLeft', ({ reason }) => { seen.left.push(reason); });
call.on('error', ({ definition, error }) => {
  seen.errors.push(error instanceof DuetError ? error.definition : definition);
});
await call.connect();
`

func tarFiles(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			slices.Sort(names)
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func npm(t *testing.T, dir string, args ...string) {
	t.Helper()
	run(t, dir, "npm", args...)
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}
