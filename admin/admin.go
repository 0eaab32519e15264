// Package admin is duet's admin HTTP API under /v1/admin/: JSON listings
// of apps, rooms and members, one room in detail, ending a room, removing
// a member, and node and cluster statistics. It is off unless a key is
// configured, and every request must carry it: a bearer key compared in
// constant time, or a JWT with "admin": true signed with the room-token
// keys. On a cluster every node answers for the whole cluster.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/duet-rtc/duet/hub"
)

// Prefix is where the API lives; the version is part of it.
const Prefix = "/v1/admin/"

// TokenChecker accepts admin JWTs (auth.Authorizer.CheckAdmin).
type TokenChecker interface {
	CheckAdmin(token string) error
}

// Options configure the API.
type Options struct {
	Key    string       // bearer key; "" accepts none
	Tokens TokenChecker // nil accepts no JWT
	Rooms  hub.Admin    // the room backend
	// Reports holds live quality and call records (nil: the listings
	// have no quality and /v1/admin/calls answers 404).
	Reports Reports
	Logger  *slog.Logger
	Now     func() time.Time
}

// ErrOff is returned by New when neither a key nor a token checker is set.
var ErrOff = errors.New("admin: no key and no admin tokens configured")

// API serves the admin endpoints.
type API struct {
	o       Options
	keyHash [32]byte
	log     *slog.Logger
	refusal *refusalLog
}

// New returns the API, or ErrOff when nothing could authenticate a call.
func New(o Options) (*API, error) {
	if o.Key == "" && o.Tokens == nil {
		return nil, ErrOff
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &API{o: o, keyHash: sha256.Sum256([]byte(o.Key)), log: o.Logger, refusal: &refusalLog{log: o.Logger, now: o.Now}}, nil
}

// Mount registers the endpoints on mux.
func (a *API) Mount(mux *http.ServeMux) {
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /v1/admin/apps":                                        a.apps,
		"GET /v1/admin/rooms":                                       a.rooms,
		"GET /v1/admin/apps/{app}/rooms":                            a.rooms,
		"GET /v1/admin/apps/{app}/rooms/{room}":                     a.room,
		"DELETE /v1/admin/apps/{app}/rooms/{room}":                  a.endRoom,
		"DELETE /v1/admin/apps/{app}/rooms/{room}/members/{member}": a.kick,
		"GET /v1/admin/stats":                                       a.stats,
		"GET /v1/admin/calls":                                       a.calls,
	} {
		mux.Handle(pattern, a.guard(h))
	}
	// Anything else under the prefix is refused the same way before it is
	// found missing, so that probing paths tells nothing without the key.
	mux.Handle(Prefix, a.guard(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	}))
}

// guard lets through only requests with the admin key or an admin token.
func (a *API) guard(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if ok, why := a.authorized(r); !ok {
			a.refusal.refused(r.Method, r.URL.Path, r.RemoteAddr, why)
			w.Header().Set("WWW-Authenticate", `Bearer realm="duet admin"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong admin credentials")
			return
		}
		h(w, r)
	})
}

// authorized reports whether r carries the admin key or an admin token,
// and if not, why (for the log; never the credential).
func (a *API) authorized(r *http.Request) (bool, string) {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return false, "no bearer credential"
	}
	if a.o.Key != "" {
		// Hashing first makes the comparison's time independent of the
		// lengths too.
		h := sha256.Sum256([]byte(cred))
		if subtle.ConstantTimeCompare(h[:], a.keyHash[:]) == 1 {
			return true, ""
		}
	}
	if a.o.Tokens != nil && strings.Count(cred, ".") == 2 {
		err := a.o.Tokens.CheckAdmin(cred)
		if err == nil {
			return true, ""
		}
		return false, "admin token refused: " + err.Error()
	}
	return false, "wrong key"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
