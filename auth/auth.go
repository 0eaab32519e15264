// Package auth checks room access tokens: when a key is configured, a join
// must carry a JWT naming the app and the room, signed with that key
// (HS256 with a shared secret, or RS256/ES256 with a public key from a PEM
// or JWKS file), within its validity period.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/protocol"
)

// Roles a token may grant. An empty role grants both.
const (
	RolePublish = "publish" // join in any mode
	RolePlay    = "play"    // join only with mode "play"
)

// Claims are a room token's claims: the app and room (streamId) it opens,
// an optional role, and the registered exp (required) and nbf (optional).
type Claims struct {
	App  string `json:"app"`
	Room string `json:"room"`
	Role string `json:"role,omitempty"`
	jwt.RegisteredClaims
}

// Errors wrapped with the wire definition, so that the transport sends
// unauthorized_access or authenticationTokenNotValid and logs can say why.
var (
	ErrNoToken   = fmt.Errorf("%w: join carries no token", protocol.ErrUnauthorized)
	ErrWrongApp  = fmt.Errorf("%w: token is for another app", protocol.ErrTokenNotValid)
	ErrWrongRoom = fmt.Errorf("%w: token is for another room", protocol.ErrTokenNotValid)
	ErrRole      = fmt.Errorf("%w: token's role does not allow this mode", protocol.ErrTokenNotValid)
)

// Options configure an Authorizer.
type Options struct {
	// Keys verify signatures; see HMACKey, LoadKeyFile.
	Keys *KeySet
	// Leeway tolerates clock skew on exp and nbf (default 0).
	Leeway time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// KeyFile, when set, is where Keys came from: Reload reads it again,
	// and so does a token whose key is not in the set (a kid miss), at
	// most once per ReloadEvery (default 10 s).
	KeyFile     string
	ReloadEvery time.Duration
}

// Authorizer implements access.Authorizer with JWTs.
type Authorizer struct {
	o     Options
	state atomic.Pointer[keyState] // swapped whole by Reload
	log   *slog.Logger
	rl    reloadLimit
}

// keyState is a key set with the parser that accepts its algorithms.
type keyState struct {
	keys   *KeySet
	parser *jwt.Parser
}

var _ access.Authorizer = (*Authorizer)(nil)

// New returns an Authorizer. Only the algorithms of o.Keys are accepted:
// "none" and a token signed with another family (HS256 against an RSA key)
// are rejected before any signature check.
func New(o Options) (*Authorizer, error) {
	if o.Keys == nil || len(o.Keys.algs) == 0 {
		return nil, errors.New("auth: no keys")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReloadEvery <= 0 {
		o.ReloadEvery = 10 * time.Second
	}
	a := &Authorizer{o: o, log: log}
	a.state.Store(a.newState(o.Keys))
	return a, nil
}

func (a *Authorizer) newState(keys *KeySet) *keyState {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(keys.Algorithms()),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(a.o.Leeway),
		jwt.WithTimeFunc(a.o.Now),
	}
	return &keyState{keys: keys, parser: jwt.NewParser(opts...)}
}

// FromConfig returns the Authorizer for token_secret or token_key_file, or
// nil when neither is set (every join is allowed). It allows 30 seconds of
// clock skew.
func FromConfig(cfg config.Config, log *slog.Logger) (*Authorizer, error) {
	var keys *KeySet
	switch {
	case cfg.TokenSecret != "":
		keys = HMACKey([]byte(cfg.TokenSecret))
	case cfg.TokenKeyFile != "":
		var err error
		if keys, err = LoadKeyFile(cfg.TokenKeyFile); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	return New(Options{Keys: keys, Leeway: 30 * time.Second, Logger: log, KeyFile: cfg.TokenKeyFile})
}

// Algorithms lists the signature algorithms tokens may use.
func (a *Authorizer) Algorithms() []string { return a.state.Load().keys.Algorithms() }

// AuthorizeJoin implements access.Authorizer.
func (a *Authorizer) AuthorizeJoin(ctx context.Context, req access.JoinRequest) error {
	_, err := a.GrantJoin(ctx, req)
	return err
}

// GrantJoin implements access.Granter: a join with a valid token is
// granted until the token's exp, and counted under its TokenID.
func (a *Authorizer) GrantJoin(_ context.Context, req access.JoinRequest) (access.Grant, error) {
	c, err := a.check(req)
	if err != nil {
		// Never the token itself: it is a bearer credential.
		a.log.Info("join refused", "app", req.App, "room", req.StreamID, "remote", req.RemoteAddr, "reason", err)
		return access.Grant{}, err
	}
	g := access.Grant{Token: TokenID(req.Token)}
	if c.ExpiresAt != nil {
		g.Expiry = c.ExpiresAt.Time
	}
	return g, nil
}

// TokenID names a token without revealing it: 96 bits of its SHA-256,
// base64url. Two joins bring the same token exactly when their ids match.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func (a *Authorizer) check(req access.JoinRequest) (*Claims, error) {
	if req.Token == "" {
		return nil, ErrNoToken
	}
	var c Claims
	if err := a.parse(req.Token, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", protocol.ErrTokenNotValid, err)
	}
	switch {
	case c.App != req.App:
		return nil, ErrWrongApp
	case c.Room != req.StreamID:
		return nil, ErrWrongRoom
	}
	switch c.Role {
	case "", RolePublish:
	case RolePlay:
		if req.Mode != "play" {
			return nil, ErrRole
		}
	default:
		return nil, fmt.Errorf("%w: unknown role %q", protocol.ErrTokenNotValid, c.Role)
	}
	return &c, nil
}

// Mint signs claims for a room: the app, the room, a role ("" for both), a
// lifetime from now and an optional not-before delay. key is a []byte
// secret for HS256, or a *rsa.PrivateKey / *ecdsa.PrivateKey; kid, when
// set, names the key in a JWKS.
func Mint(alg, kid string, key any, app, room, role string, now time.Time, ttl, notBefore time.Duration) (string, error) {
	m := jwt.GetSigningMethod(alg)
	if m == nil || alg == "none" {
		return "", fmt.Errorf("auth: unknown algorithm %q", alg)
	}
	c := Claims{App: app, Room: room, Role: role, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	if notBefore > 0 {
		c.NotBefore = jwt.NewNumericDate(now.Add(notBefore))
	}
	t := jwt.NewWithClaims(m, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(key)
}
