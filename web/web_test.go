package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/testserver"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

// TestServesEmbeddedFiles checks every route's status, content type and
// caching headers through a real HTTP server.
func TestServesEmbeddedFiles(t *testing.T) {
	mux := http.NewServeMux()
	Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cases := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `src="/demo/app.js"`},
		{"/demo/app.js", "text/javascript; charset=utf-8", "from '/sdk/duet.js'"},
		{"/demo/style.css", "text/css; charset=utf-8", "@media"},
		{"/sdk/duet.js", "text/javascript; charset=utf-8", "export class DuetCall"},
		{"/sdk/peer.js", "text/javascript; charset=utf-8", "export class PeerLink"},
		{"/sdk/path.js", "text/javascript; charset=utf-8", "export class PathWatch"},
		{"/sdk/socket.js", "text/javascript; charset=utf-8", "export class SignalSocket"},
		{"/sdk/quality.js", "text/javascript; charset=utf-8", "export class QualityReporter"},
		{"/sdk/duet.d.ts", "application/typescript; charset=utf-8", "export declare class DuetCall"},
	}
	for _, c := range cases {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", c.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != c.contentType {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.contentType)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.path, got)
		}
		if !strings.Contains(string(body), c.contains) {
			t.Errorf("%s: body lacks %q", c.path, c.contains)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", c.path)
			continue
		}
		// A browser revalidating an unchanged file gets a 304.
		req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s: revalidation status %d, want 304", c.path, resp.StatusCode)
		}
	}

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("demo page CSP %q", csp)
	}
	for _, p := range []string{"/sdk/", "/sdk/package.json", "/demo/", "/index.html", "/nope"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

// external matches a reference that makes the browser fetch from another
// host: src/href attributes, CSS url() and @import, JS imports and fetch.
var external = regexp.MustCompile(`(?i)(src|href|url\(|@import|from|import\(|fetch\()\s*=?\s*["']?\s*(https?:)?//`)

// TestNoExternalAssets keeps the demo page self-contained: it must work
// offline and leak nothing to third parties.
func TestNoExternalAssets(t *testing.T) {
	for _, name := range routes {
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := external.FindString(string(b)); m != "" {
			t.Errorf("%s loads an external resource: %s", name, m)
		}
	}
}
