// Package web serves duet's browser SDK (/sdk/duet.js, /sdk/duet.d.ts) and
// the demo call page (/) from files embedded in the binary.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"time"
)

//go:embed demo/index.html demo/app.js demo/style.css demo/group.html demo/group.js demo/group.css sdk/duet.js sdk/peer.js sdk/path.js sdk/socket.js sdk/quality.js sdk/mesh.js sdk/duet.d.ts
var files embed.FS

// asset is one embedded file with what the response needs.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// routes maps URL paths to embedded files. Exact paths only: a prefix
// pattern such as "/sdk/" would overlap the server's "/{app}/websocket".
var routes = map[string]string{
	"/":               "demo/index.html",
	"/demo/app.js":    "demo/app.js",
	"/demo/style.css": "demo/style.css",
	"/group":          "demo/group.html",
	"/demo/group.js":  "demo/group.js",
	"/demo/group.css": "demo/group.css",
	"/sdk/duet.js":    "sdk/duet.js",
	"/sdk/peer.js":    "sdk/peer.js",
	"/sdk/path.js":    "sdk/path.js",
	"/sdk/socket.js":  "sdk/socket.js",
	"/sdk/quality.js": "sdk/quality.js",
	"/sdk/mesh.js":    "sdk/mesh.js",
	"/sdk/duet.d.ts":  "sdk/duet.d.ts",
}

// Content types by extension, fixed here rather than taken from the
// system's mime table, which maps .ts to MPEG transport streams.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".ts":   "application/typescript; charset=utf-8",
}

// The demo page loads only its own files; media comes from getUserMedia
// and the socket may point at another duet server via ?ws=.
const csp = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; " +
	"media-src 'self' blob: mediastream:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"

// Mount registers the SDK and demo routes on mux; it fits server.Options.Mount.
func Mount(mux *http.ServeMux) {
	for route, name := range routes {
		a := load(name)
		pattern := "GET " + route
		if route == "/" {
			pattern = "GET /{$}"
		}
		mux.Handle(pattern, a)
	}
}

func load(name string) *asset {
	body, err := files.ReadFile(name)
	if err != nil {
		panic("web: missing embedded file " + name) // caught by the tests, never at run time
	}
	sum := sha256.Sum256(body)
	return &asset{
		body:        body,
		contentType: contentTypes[path.Ext(name)],
		etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
	}
}

func (a *asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	// Revalidate every time: the files change with the binary, and the
	// ETag makes an unchanged file a 304.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.contentType == contentTypes[".html"] {
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
	} else {
		// The SDK may be imported by pages on other origins.
		h.Set("Access-Control-Allow-Origin", "*")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
