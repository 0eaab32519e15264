package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/duet-rtc/duet/protocol"
)

// Push notification tokens (Ant Media's push commands): the token of a
// registerPushNotificationToken or sendPushNotification proves who its
// sender is. As Ant Media's, it is a JWT with a subscriberId claim and an
// exp, signed here with the room-token keys; an app claim, when present,
// binds it to one app.

// SubscriberClaims are a push token's claims.
type SubscriberClaims struct {
	SubscriberID string `json:"subscriberId"`
	App          string `json:"app,omitempty"`
	jwt.RegisteredClaims
}

// Errors of CheckSubscriber, wrapping authenticationTokenNotValid.
var (
	ErrWrongSubscriber = fmt.Errorf("%w: token is for another subscriber", protocol.ErrTokenNotValid)
	ErrNoSubscriber    = errors.New("auth: token carries no subscriberId")
)

// CheckSubscriber reports whether token proves that its bearer is
// subscriber of app: signed with one of the keys, unexpired (exp
// required), with that subscriberId and no other app.
func (a *Authorizer) CheckSubscriber(token, app, subscriber string) error {
	if token == "" {
		return ErrNoToken
	}
	var c SubscriberClaims
	if err := a.parse(token, &c); err != nil {
		return fmt.Errorf("%w: %v", protocol.ErrTokenNotValid, err)
	}
	switch {
	case c.SubscriberID == "":
		return fmt.Errorf("%w: %w", protocol.ErrTokenNotValid, ErrNoSubscriber)
	case c.SubscriberID != subscriber:
		return ErrWrongSubscriber
	case c.App != "" && c.App != app:
		return ErrWrongApp
	}
	return nil
}

// MintSubscriber signs a push token for subscriber (of app, or of any app
// when app is ""), valid for ttl from now (see Mint for key and kid).
func MintSubscriber(alg, kid string, key any, app, subscriber string, now time.Time, ttl time.Duration) (string, error) {
	m := jwt.GetSigningMethod(alg)
	if m == nil || alg == "none" {
		return "", fmt.Errorf("auth: unknown algorithm %q", alg)
	}
	t := jwt.NewWithClaims(m, SubscriberClaims{SubscriberID: subscriber, App: app, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}})
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(key)
}
