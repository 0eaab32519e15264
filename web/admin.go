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

//go:embed admin/index.html admin/admin.js admin/admin.css
var adminFiles embed.FS

// adminRoutes are the admin page's files. The page itself holds no data:
// everything it shows comes from the admin API, which it calls with the
// key the operator enters (kept in the tab's sessionStorage, sent as a
// bearer header, never in a URL).
var adminRoutes = map[string]string{
	"/admin":           "admin/index.html",
	"/admin/admin.js":  "admin/admin.js",
	"/admin/admin.css": "admin/admin.css",
}

// adminCSP allows the page its own files and calls to its own origin
// (the API and /metrics) only, and no framing.
const adminCSP = "default-src 'none'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type adminAsset struct{ a *asset }

// MountAdmin registers the admin page at /admin. Mount it only when the
// admin API is on.
func MountAdmin(mux *http.ServeMux) {
	for route, name := range adminRoutes {
		body, err := adminFiles.ReadFile(name)
		if err != nil {
			panic("web: missing embedded file " + name) // caught by the tests
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, contentType: contentTypes[path.Ext(name)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		mux.Handle("GET "+route, adminAsset{a})
	}
}

func (h adminAsset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", h.a.contentType)
	hd.Set("ETag", h.a.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", adminCSP)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.a.body))
}
