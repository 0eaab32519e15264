package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/protocol"
)

const strictSecret = "strict-claims-test-secret-32-bytes!!"

// rawHS256 signs header and payload JSON exactly as written.
func rawHS256(header, payload string) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, []byte(strictSecret))
	m.Write([]byte(s))
	return s + "." + enc.EncodeToString(m.Sum(nil))
}

// TestClaimsReadStrictlyAlike: room and admin tokens are read by the same
// strict rules (issue #20). Each case is signed correctly; what is refused
// is refused for its JSON, by both kinds of token.
func TestClaimsReadStrictlyAlike(t *testing.T) {
	a, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(strictSecret))})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	room := func(extra string) string {
		return fmt.Sprintf(`{"app":"A","room":"r","exp":%d%s}`, exp, extra)
	}
	admin := func(extra string) string {
		return fmt.Sprintf(`{"admin":true,"exp":%d%s}`, exp, extra)
	}
	for _, tc := range []struct {
		name            string
		header, payload func() (string, string) // room, admin
		ok              bool
	}{
		{"plain", nil, nil, true},
		{"string exp", nil, func() (string, string) {
			return fmt.Sprintf(`{"app":"A","room":"r","exp":"%d"}`, exp), fmt.Sprintf(`{"admin":true,"exp":"%d"}`, exp)
		}, false},
		{"string nbf", nil, func() (string, string) { return room(`,"nbf":"1"`), admin(`,"nbf":"1"`) }, false},
		{"duplicate claim", nil, func() (string, string) { return room(`,"room":"r"`), admin(`,"admin":true`) }, false},
		{"duplicate exp, the last one valid", nil, func() (string, string) {
			return fmt.Sprintf(`{"app":"A","room":"r","exp":1,"exp":%d}`, exp), fmt.Sprintf(`{"admin":true,"exp":1,"exp":%d}`, exp)
		}, false},
		{"claim name in another case", nil, func() (string, string) {
			return fmt.Sprintf(`{"app":"A","ROOM":"r","exp":%d}`, exp), fmt.Sprintf(`{"Admin":true,"exp":%d}`, exp)
		}, false},
		{"crit header", func() (string, string) {
			h := `{"alg":"HS256","typ":"JWT","crit":["x"],"x":1}`
			return h, h
		}, nil, false},
		{"duplicate header", func() (string, string) {
			h := `{"alg":"HS256","alg":"HS256"}`
			return h, h
		}, nil, false},
		{"unknown claims are fine", nil, func() (string, string) { return room(`,"sub":"u1","x-app":1`), admin(`,"sub":"ops"`) }, true},
	} {
		hr, ha := hdr, hdr
		if tc.header != nil {
			hr, ha = tc.header()
		}
		pr, pa := room(""), admin("")
		if tc.payload != nil {
			pr, pa = tc.payload()
		}
		err := a.AuthorizeJoin(context.Background(), access.JoinRequest{App: "A", StreamID: "r", Token: rawHS256(hr, pr)})
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, protocol.ErrTokenNotValid) {
			t.Errorf("%s: room token: %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err := a.CheckAdmin(rawHS256(ha, pa)); tc.ok != (err == nil) {
			t.Errorf("%s: admin token: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestGrantJoin: what a valid token grants is bounded by its exp and named
// by an id that is the same for every join bringing it.
func TestGrantJoin(t *testing.T) {
	a, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(strictSecret))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, _ := auth.Mint("HS256", "", []byte(strictSecret), "A", "r", "", now, 10*time.Minute, 0)
	g, err := a.GrantJoin(context.Background(), access.JoinRequest{App: "A", StreamID: "r", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if g.Expiry.Unix() != now.Add(10*time.Minute).Unix() || g.Token != auth.TokenID(tok) || g.Token == "" || len(g.Token) > 16 {
		t.Fatalf("grant = %+v", g)
	}
	other, _ := auth.Mint("HS256", "", []byte(strictSecret), "A", "r", "", now.Add(time.Second), 10*time.Minute, 0)
	if auth.TokenID(other) == g.Token {
		t.Fatal("two tokens share an id")
	}
}
