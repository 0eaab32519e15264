package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/protocol"
)

const testSecret = "a-test-secret-of-at-least-32-bytes!!"

func mintCLI(t *testing.T, env map[string]string, args ...string) (string, int, string) {
	t.Helper()
	var out, errb strings.Builder
	code := run(t.Context(), append([]string{"token"}, args...), &out, &errb, func(k string) string { return env[k] })
	return strings.TrimSpace(out.String()), code, errb.String()
}

// TestTokenCommandMintsWhatTheAuthorizerAccepts: duet token's HS256 and
// ES256 tokens pass the server's check for their room, and only for it.
func TestTokenCommandMintsWhatTheAuthorizerAccepts(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	privFile := filepath.Join(dir, "key.pem")
	os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pubFile := filepath.Join(dir, "pub.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600)

	ecKeys, err := auth.LoadKeyFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		keys *auth.KeySet
	}{
		{"HS256 --key", nil, []string{"--key", testSecret}, auth.HMACKey([]byte(testSecret))},
		{"HS256 from the environment", map[string]string{"DUET_TOKEN_SECRET": testSecret}, nil, auth.HMACKey([]byte(testSecret))},
		{"HS256 --key-file", nil, []string{"--key-file", secretFile}, auth.HMACKey([]byte(testSecret))},
		{"ES256 --key-file", nil, []string{"--key-file", privFile, "--alg", "ES256"}, ecKeys},
	} {
		tok, code, stderr := mintCLI(t, tc.env, append(tc.args, "--app", "live", "--room", "r1", "--ttl", "5m", "--role", "play")...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, stderr)
		}
		if strings.Contains(stderr, testSecret) {
			t.Errorf("%s: the secret was printed", tc.name)
		}
		a, err := auth.New(auth.Options{Keys: tc.keys})
		if err != nil {
			t.Fatal(err)
		}
		ok := access.JoinRequest{App: "live", StreamID: "r1", Token: tok, Mode: "play"}
		if err := a.AuthorizeJoin(context.Background(), ok); err != nil {
			t.Errorf("%s: minted token refused: %v", tc.name, err)
		}
		for what, req := range map[string]access.JoinRequest{
			"other room": {App: "live", StreamID: "r2", Token: tok, Mode: "play"},
			"other app":  {App: "WebRTCAppEE", StreamID: "r1", Token: tok, Mode: "play"},
			"publishing": {App: "live", StreamID: "r1", Token: tok, Mode: "both"},
		} {
			if err := a.AuthorizeJoin(context.Background(), req); !errors.Is(err, protocol.ErrTokenNotValid) {
				t.Errorf("%s, %s: %v, want %v", tc.name, what, err, protocol.ErrTokenNotValid)
			}
		}
	}
}

func TestTokenCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--key", testSecret}, // no room
		{"--room", "r"},       // no key
		{"--key", testSecret, "--room", "r", "--role", "admin"}, // bad role
		{"--key", testSecret, "--room", "r", "--alg", "RS256"},  // secret with RS256
		{"--key", testSecret, "--room", "r", "--alg", "none"},
	} {
		if _, code, _ := mintCLI(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestTokenCommandMintsPushTokens: duet token --subscriber proves that
// subscriber in push commands, for its app, and opens no room.
func TestTokenCommandMintsPushTokens(t *testing.T) {
	a, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(testSecret))})
	if err != nil {
		t.Fatal(err)
	}
	tok, code, stderr := mintCLI(t, map[string]string{"DUET_TOKEN_SECRET": testSecret}, "--subscriber", "bob@example.com", "--app", "Calls")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if err := a.CheckSubscriber(tok, "Calls", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckSubscriber(tok, "OtherApp", "bob@example.com"); err == nil {
		t.Fatal("a push token for one app proved its subscriber in another")
	}
	if err := a.AuthorizeJoin(t.Context(), access.JoinRequest{App: "Calls", StreamID: "r1", Token: tok}); err == nil {
		t.Fatal("a push token opened a room")
	}
}
