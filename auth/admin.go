package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrNotAdmin: a valid token that does not grant the admin API.
var ErrNotAdmin = errors.New("auth: token does not carry admin: true")

// AdminClaims are an admin token's claims: "admin": true and an exp, signed
// with the room-token keys.
type AdminClaims struct {
	Admin bool `json:"admin"`
	jwt.RegisteredClaims
}

// CheckAdmin reports whether token is a valid admin token: signed with
// one of the keys, unexpired (exp required) and with "admin": true.
func (a *Authorizer) CheckAdmin(token string) error {
	var c AdminClaims
	if err := a.parse(token, &c); err != nil {
		return fmt.Errorf("auth: admin token: %w", err)
	}
	if !c.Admin {
		return ErrNotAdmin
	}
	return nil
}

// MintAdmin signs an admin token valid for ttl from now (see Mint for key
// and kid).
func MintAdmin(alg, kid string, key any, now time.Time, ttl time.Duration) (string, error) {
	m := jwt.GetSigningMethod(alg)
	if m == nil || alg == "none" {
		return "", fmt.Errorf("auth: unknown algorithm %q", alg)
	}
	t := jwt.NewWithClaims(m, AdminClaims{Admin: true, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}})
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(key)
}
