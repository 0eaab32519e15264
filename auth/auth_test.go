package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

const (
	app    = "WebRTCAppEE"
	secret = "a-test-secret-of-at-least-32-bytes!!"
)

// startWith runs a real server whose joins are checked with keys.
func startWith(t *testing.T, keys *auth.KeySet) *testserver.Server {
	t.Helper()
	a, err := auth.New(auth.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return testserver.Start(t, testserver.Config(), server.Options{Authorizer: a})
}

// join dials a fresh client, joins room with token (and mode) and returns
// the client with the server's answer.
func join(t *testing.T, s *testserver.Server, room, token, mode string) (*wstest.Client, wstest.Msg) {
	t.Helper()
	c := wstest.Dial(t, s.URL(app))
	m := wstest.Msg{"command": "join", "streamId": room}
	if token != "" {
		m["token"] = token
	}
	if mode != "" {
		m["mode"] = mode
	}
	c.Send(m)
	return c, c.Read()
}

func mint(t *testing.T, alg, kid string, key any, app, room, role string, ttl, nbf time.Duration) string {
	t.Helper()
	tok, err := auth.Mint(alg, kid, key, app, room, role, time.Now(), ttl, nbf)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned builds an alg "none" token by hand: the library refuses to.
func unsigned(t *testing.T, room string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." +
		enc(map[string]any{"app": app, "room": room, "exp": time.Now().Add(time.Hour).Unix()}) + "."
}

func want(t *testing.T, name string, got wstest.Msg, command, definition string) {
	t.Helper()
	if got.Str("command") != command || got.Str("definition") != definition {
		t.Errorf("%s: got %v, want %s %s", name, got, command, definition)
	}
}

// TestHS256Tokens runs every kind of token against a server with a shared
// secret: only a valid one for this app and room enters.
func TestHS256Tokens(t *testing.T) {
	s := startWith(t, auth.HMACKey([]byte(secret)))
	key := []byte(secret)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	hs := func(role string, ttl, nbf time.Duration) func(string) string {
		return func(room string) string { return mint(t, "HS256", "", key, app, room, role, ttl, nbf) }
	}
	for i, tc := range []struct {
		name                string
		token               func(room string) string
		mode                string
		command, definition string
	}{
		{"valid", hs("", time.Hour, 0), "", "notification", "joined"},
		{"missing", func(string) string { return "" }, "", "error", "unauthorized_access"},
		{"expired", hs("", -time.Hour, 0), "", "error", "authenticationTokenNotValid"},
		{"not yet valid", hs("", 2*time.Hour, time.Hour), "", "error", "authenticationTokenNotValid"},
		{"wrong room", func(string) string { return mint(t, "HS256", "", key, app, "another-room", "", time.Hour, 0) }, "", "error", "authenticationTokenNotValid"},
		{"wrong app", func(r string) string { return mint(t, "HS256", "", key, "LiveApp", r, "", time.Hour, 0) }, "", "error", "authenticationTokenNotValid"},
		{"wrong signature", func(r string) string {
			return mint(t, "HS256", "", []byte("another-secret-of-at-least-32-bytes!"), app, r, "", time.Hour, 0)
		}, "", "error", "authenticationTokenNotValid"},
		{"none algorithm", func(r string) string { return unsigned(t, r) }, "", "error", "authenticationTokenNotValid"},
		{"RS256 against a secret", func(r string) string { return mint(t, "RS256", "", rsaKey, app, r, "", time.Hour, 0) }, "", "error", "authenticationTokenNotValid"},
		{"HS384 not allowed", func(r string) string { return mint(t, "HS384", "", key, app, r, "", time.Hour, 0) }, "", "error", "authenticationTokenNotValid"},
		{"garbage", func(string) string { return "not.a.jwt" }, "", "error", "authenticationTokenNotValid"},
		{"play role, play mode", hs("play", time.Hour, 0), "play", "notification", "joined"},
		{"play role, both mode", hs("play", time.Hour, 0), "both", "error", "authenticationTokenNotValid"},
		{"publish role", hs("publish", time.Hour, 0), "both", "notification", "joined"},
		{"unknown role", hs("admin", time.Hour, 0), "", "error", "authenticationTokenNotValid"},
	} {
		room := fmt.Sprintf("room-%d", i)
		_, got := join(t, s, room, tc.token(room), tc.mode)
		want(t, tc.name, got, tc.command, tc.definition)
		if tc.command == "error" && got.Str("streamId") != room {
			t.Errorf("%s: error names stream %q, want %q", tc.name, got.Str("streamId"), room)
		}
	}
}

// TestRefusedJoinNeverEntersTheRoom: a refused client takes no seat, so
// two valid peers still pair, and it cannot relay into the room.
func TestRefusedJoinNeverEntersTheRoom(t *testing.T) {
	s := startWith(t, auth.HMACKey([]byte(secret)))
	tok := mint(t, "HS256", "", []byte(secret), app, "r1", "", time.Hour, 0)
	a, got := join(t, s, "r1", tok, "")
	want(t, "a", got, "notification", "joined")
	x, got := join(t, s, "r1", mint(t, "HS256", "", []byte(secret), app, "r1", "", -time.Minute, 0), "")
	want(t, "expired x", got, "error", "authenticationTokenNotValid")
	b, got := join(t, s, "r1", tok, "")
	want(t, "b", got, "notification", "joined")
	a.Expect("start", "")
	x.Send(wstest.Msg{"command": "peerMessageCommand", "streamId": "r1", "definition": "d", "data": "x"})
	x.Expect("error", "no_peer_associated_before")
	a.Quiet()
	b.Quiet()
}

// TestTokenInWebSocketURL: Ant Media's JS SDK join() sends no token, so a
// page may put it in the socket URL's token parameter instead.
func TestTokenInWebSocketURL(t *testing.T) {
	s := startWith(t, auth.HMACKey([]byte(secret)))
	tok := mint(t, "HS256", "", []byte(secret), app, "url-room", "", time.Hour, 0)
	c := wstest.Dial(t, s.URL(app)+"?target=origin&token="+tok)
	wstest.Join(c, "url-room")
	c.Expect("notification", "joined")
	wstest.Join(c, "other-room") // the URL's token opens only its room
	c.Expect("error", "authenticationTokenNotValid")
}

// TestHSRSConfusion: a server holding an RSA public key refuses an HS256
// token whose HMAC key is that public key's PEM text.
func TestHSRSConfusion(t *testing.T) {
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	pemPub := writePEM(t, "PUBLIC KEY", mustPKIX(t, &priv.PublicKey))
	keys, err := auth.LoadKeyFile(pemPub)
	if err != nil {
		t.Fatal(err)
	}
	s := startWith(t, keys)
	pubText, _ := os.ReadFile(pemPub)
	der := mustPKIX(t, &priv.PublicKey)
	for name, hmacKey := range map[string][]byte{"pem": pubText, "der": der} {
		_, got := join(t, s, "r", mint(t, "HS256", "", hmacKey, app, "r", "", time.Hour, 0), "")
		want(t, "HS256 with the public key as "+name, got, "error", "authenticationTokenNotValid")
	}
	_, got := join(t, s, "r", mint(t, "RS256", "", priv, app, "r", "", time.Hour, 0), "")
	want(t, "genuine RS256", got, "notification", "joined")
}

// TestPublicKeyTokens: RS256 and ES256, from PEM files and from a JWKS
// file holding both keys (picked by kid).
func TestPublicKeyTokens(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	ecBytes, _ := ecKey.PublicKey.Bytes()
	doc := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
			"n": b64(rsaKey.N.Bytes()), "e": b64([]byte{1, 0, 1})},
		{"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64(ecBytes[1:33]), "y": b64(ecBytes[33:])},
	}}
	b, _ := json.Marshal(doc)
	os.WriteFile(jwks, b, 0o600)

	for _, tc := range []struct {
		name, file string
		good       func(room string) string
		bad        map[string]func(room string) string
	}{
		{"RS256 PEM", writePEM(t, "PUBLIC KEY", mustPKIX(t, &rsaKey.PublicKey)),
			func(r string) string { return mint(t, "RS256", "", rsaKey, app, r, "", time.Hour, 0) },
			map[string]func(string) string{
				"other key": func(r string) string {
					k, _ := rsa.GenerateKey(rand.Reader, 2048)
					return mint(t, "RS256", "", k, app, r, "", time.Hour, 0)
				},
				"expired": func(r string) string { return mint(t, "RS256", "", rsaKey, app, r, "", -time.Hour, 0) },
			}},
		{"ES256 PEM", writePEM(t, "PUBLIC KEY", mustPKIX(t, &ecKey.PublicKey)),
			func(r string) string { return mint(t, "ES256", "", ecKey, app, r, "", time.Hour, 0) },
			map[string]func(string) string{
				"other key": func(r string) string { return mint(t, "ES256", "", otherEC, app, r, "", time.Hour, 0) },
				"RS256":     func(r string) string { return mint(t, "RS256", "", rsaKey, app, r, "", time.Hour, 0) },
			}},
		{"JWKS RS256", jwks,
			func(r string) string { return mint(t, "RS256", "rsa-1", rsaKey, app, r, "", time.Hour, 0) },
			map[string]func(string) string{
				"kid of the EC key": func(r string) string { return mint(t, "RS256", "ec-1", rsaKey, app, r, "", time.Hour, 0) },
				"unknown kid":       func(r string) string { return mint(t, "RS256", "rsa-9", rsaKey, app, r, "", time.Hour, 0) },
				"HS256 with kid":    func(r string) string { return mint(t, "HS256", "rsa-1", []byte(secret), app, r, "", time.Hour, 0) },
			}},
		{"JWKS ES256", jwks,
			func(r string) string { return mint(t, "ES256", "ec-1", ecKey, app, r, "", time.Hour, 0) },
			map[string]func(string) string{
				"other key, same kid": func(r string) string { return mint(t, "ES256", "ec-1", otherEC, app, r, "", time.Hour, 0) },
				"not-before":          func(r string) string { return mint(t, "ES256", "ec-1", ecKey, app, r, "", 2*time.Hour, time.Hour) },
			}},
	} {
		keys, err := auth.LoadKeyFile(tc.file)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s := startWith(t, keys)
		_, got := join(t, s, "good", tc.good("good"), "")
		want(t, tc.name+" valid", got, "notification", "joined")
		for name, bad := range tc.bad {
			_, got := join(t, s, "bad", bad("bad"), "")
			want(t, tc.name+" "+name, got, "error", "authenticationTokenNotValid")
		}
	}
}

func TestFromConfigNeedsNoKeyToBeOff(t *testing.T) {
	a, err := auth.FromConfig(testserver.Config(), nil)
	if a != nil || err != nil {
		t.Fatalf("FromConfig without keys = %v, %v", a, err)
	}
}

func TestLoadKeyFileRejectsPrivateAndWeakKeys(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(ec)
	for name, file := range map[string]string{
		"private key": writePEM(t, "EC PRIVATE KEY", der),
		"1024-bit":    writePEM(t, "PUBLIC KEY", mustPKIX(t, &small.PublicKey)),
	} {
		if _, err := auth.LoadKeyFile(file); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustPKIX(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), strings.ReplaceAll(strings.ToLower(typ), " ", "-")+".pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
