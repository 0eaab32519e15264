package auth_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/protocol"
)

// TestExpMustBeANumber: RFC 7519 makes exp a NumericDate, a JSON number.
// A token whose exp (or nbf) is a string, even one that reads as a number,
// is refused, as is one with exp null.
func TestExpMustBeANumber(t *testing.T) {
	a, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(secret))})
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour).Unix()
	sign := func(c jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	base := func() jwt.MapClaims { return jwt.MapClaims{"app": app, "room": "r"} }
	req := func(tok string) access.JoinRequest {
		return access.JoinRequest{App: app, StreamID: "r", Token: tok}
	}
	good := base()
	good["exp"] = later
	if err := a.AuthorizeJoin(context.Background(), req(sign(good))); err != nil {
		t.Fatalf("numeric exp refused: %v", err)
	}
	for name, set := range map[string]func(jwt.MapClaims){
		"exp a numeric string": func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(later) },
		"exp a float string":   func(c jwt.MapClaims) { c["exp"] = fmt.Sprintf("%d.5", later) },
		"exp null":             func(c jwt.MapClaims) { c["exp"] = nil },
		"exp an object":        func(c jwt.MapClaims) { c["exp"] = map[string]any{"t": later} },
		"nbf a string":         func(c jwt.MapClaims) { c["exp"] = later; c["nbf"] = "0" },
	} {
		c := base()
		set(c)
		err := a.AuthorizeJoin(context.Background(), req(sign(c)))
		if !errors.Is(err, protocol.ErrTokenNotValid) {
			t.Errorf("%s: err = %v, want authenticationTokenNotValid", name, err)
		}
	}
}
