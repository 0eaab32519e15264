package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/protocol"
)

// jwksFile writes a JWKS holding the given EC keys by kid.
func jwksFile(t *testing.T, path string, keys map[string]*ecdsa.PrivateKey) {
	t.Helper()
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		b, _ := k.PublicKey.Bytes()
		doc.Keys = append(doc.Keys, map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])})
	}
	b, _ := json.Marshal(doc)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // as a deploy replaces it
		t.Fatal(err)
	}
}

// fakeClock is the reload limiter's clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A key published in the JWKS after the server started is found on the
// first token naming it (a kid miss reloads the file), at most once per
// ReloadEvery; Reload (SIGHUP) takes a new file at once, and a broken file
// leaves the keys in use.
func TestKeyFileReload(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k3, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	path := filepath.Join(t.TempDir(), "jwks.json")
	jwksFile(t, path, map[string]*ecdsa.PrivateKey{"k1": k1})
	keys, err := auth.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	a, err := auth.New(auth.Options{Keys: keys, KeyFile: path, ReloadEvery: 10 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	check := func(kid string, key *ecdsa.PrivateKey) error {
		tok, err := auth.Mint("ES256", kid, key, app, "r", "", clock.Now(), time.Hour, 0)
		if err != nil {
			t.Fatal(err)
		}
		return a.AuthorizeJoin(t.Context(), access.JoinRequest{App: app, StreamID: "r", Token: tok})
	}
	if err := check("k1", k1); err != nil {
		t.Fatal(err)
	}
	// k2 is not published yet: the miss reads the file, finds nothing.
	if err := check("k2", k2); !errors.Is(err, protocol.ErrTokenNotValid) {
		t.Fatalf("unpublished kid: %v", err)
	}
	jwksFile(t, path, map[string]*ecdsa.PrivateKey{"k1": k1, "k2": k2})
	// Within ReloadEvery of the last read, a miss does not read again.
	if err := check("k2", k2); !errors.Is(err, protocol.ErrTokenNotValid) {
		t.Fatalf("kid miss within the limit: %v", err)
	}
	clock.Add(11 * time.Second)
	if err := check("k2", k2); err != nil {
		t.Fatalf("kid published since: %v", err)
	}
	if err := check("k1", k1); err != nil {
		t.Fatalf("old kid after reload: %v", err)
	}
	// Reload (SIGHUP) is not rate-limited: k1 retired, k3 published.
	jwksFile(t, path, map[string]*ecdsa.PrivateKey{"k3": k3})
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := check("k3", k3); err != nil {
		t.Fatalf("after Reload: %v", err)
	}
	if err := check("k1", k1); !errors.Is(err, protocol.ErrTokenNotValid) {
		t.Fatalf("retired key still accepted: %v", err)
	}
	// A broken file is refused and the keys in use stay.
	os.WriteFile(path, []byte("{not json"), 0o600)
	if err := a.Reload(); err == nil {
		t.Fatal("broken key file reloaded")
	}
	if err := check("k3", k3); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	// A secret from the config has no file to reload.
	h, _ := auth.New(auth.Options{Keys: auth.HMACKey([]byte(secret))})
	if err := h.Reload(); !errors.Is(err, auth.ErrNoKeyFile) {
		t.Fatalf("reload of a secret: %v", err)
	}
}

func TestAdminTokens(t *testing.T) {
	a, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(secret))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good, _ := auth.MintAdmin("HS256", "", []byte(secret), now, time.Hour)
	expired, _ := auth.MintAdmin("HS256", "", []byte(secret), now.Add(-2*time.Hour), time.Hour)
	other, _ := auth.MintAdmin("HS256", "", []byte("another-secret-of-at-least-32-bytes!"), now, time.Hour)
	room, _ := auth.Mint("HS256", "", []byte(secret), app, "r", "", now, time.Hour, 0)
	if err := a.CheckAdmin(good); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"expired": expired, "other key": other, "room token": room, "none": unsigned(t, "r"), "garbage": "x.y.z"} {
		if err := a.CheckAdmin(tok); err == nil {
			t.Errorf("%s accepted as admin", name)
		}
	}
	if err := a.CheckAdmin(room); !errors.Is(err, auth.ErrNotAdmin) {
		t.Errorf("room token: %v, want ErrNotAdmin", err)
	}
}
