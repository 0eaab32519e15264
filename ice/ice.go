// Package ice answers getIceServerConfig: it lists the configured STUN and
// TURN servers and gives each client TURN credentials, either static ones
// or time-limited ones minted from a shared secret (the TURN REST form that
// coturn's use-auth-secret and duet's embedded TURN server check).
package ice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/protocol"
)

// Options configure a Provider.
type Options struct {
	// STUN lists stun:/stuns: URIs. They never carry credentials.
	STUN []string
	// TURN lists turn:/turns: URIs; they all share one credential.
	TURN []string
	// Username and Credential are static TURN credentials.
	Username, Credential string
	// Secret, when set, mints a fresh time-limited credential per request
	// instead of the static one.
	Secret []byte
	// TTL is the lifetime of minted credentials (default 24h).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Provider answers getIceServerConfig from configuration. It is safe for
// concurrent use.
type Provider struct {
	o Options
}

// New returns a Provider. URIs are sorted into STUN and TURN by scheme, so
// a turn: URI in STUN (the old single stun_uri setting) is treated as TURN.
func New(o Options) *Provider {
	var stun, turn []string
	for _, u := range append(append([]string(nil), o.STUN...), o.TURN...) {
		switch {
		case u == "":
		case IsTURN(u):
			turn = append(turn, u)
		default:
			stun = append(stun, u)
		}
	}
	o.STUN, o.TURN = stun, turn
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Provider{o: o}
}

// IsTURN reports whether uri is a turn: or turns: URI.
func IsTURN(uri string) bool {
	return strings.HasPrefix(uri, "turn:") || strings.HasPrefix(uri, "turns:")
}

// Member is who a TURN credential is minted for.
type Member struct {
	// Label names the credential's user before its random part: the app,
	// or app.room for a room's member.
	Label string
	// Token names the room token that authorized the member
	// (access.Grant.Token), "" without one. It ends the user after an @
	// (UserToken), so that a TURN server that checks the credential can
	// count what one token holds.
	Token string
	// Expiry is when that token expires: the credential expires no later
	// (zero: no bound but the TTL).
	Expiry time.Time
}

// ICEServerConfig implements server.ICEProvider. The full list goes in
// iceServers; the fields the Ant Media SDKs read get one URI, chosen as
// they can use it (see legacyURI).
func (p *Provider) ICEServerConfig(_ context.Context, m Member) protocol.ICEServerConfig {
	var c protocol.ICEServerConfig
	if len(p.o.STUN) > 0 {
		c.ICEServers = append(c.ICEServers, protocol.ICEServer{URLs: p.o.STUN})
	}
	var user, pass string
	if len(p.o.TURN) > 0 {
		user, pass = p.o.Username, p.o.Credential
		if len(p.o.Secret) > 0 {
			expiry := p.o.Now().Add(p.o.TTL)
			if !m.Expiry.IsZero() && m.Expiry.Before(expiry) {
				expiry = m.Expiry
			}
			u := m.Label + "." + randomID()
			if m.Token != "" {
				u += "@" + m.Token
			}
			user, pass = Mint(p.o.Secret, u, expiry)
		}
		c.ICEServers = append(c.ICEServers, protocol.ICEServer{URLs: p.o.TURN, Username: user, Credential: pass})
	}
	c.StunServerURI = legacyURI(p.o.STUN, p.o.TURN)
	if IsTURN(c.StunServerURI) {
		c.TurnServerUsername, c.TurnServerCredential = user, pass
	}
	return c
}

// legacyURI picks the one URI for stunServerUri. Ant Media's JS SDK uses it
// only when it starts with turn: (with the credentials) or stun:, so a
// turn: URI over UDP comes first (a TURN server also answers STUN), then
// any turn:, then STUN, then turns: for the mobile SDKs.
func legacyURI(stun, turn []string) string {
	for _, u := range turn {
		if strings.HasPrefix(u, "turn:") && !strings.Contains(u, "transport=tcp") {
			return u
		}
	}
	for _, u := range turn {
		if strings.HasPrefix(u, "turn:") {
			return u
		}
	}
	for _, u := range stun {
		if strings.HasPrefix(u, "stun:") {
			return u
		}
	}
	if len(turn) > 0 {
		return turn[0]
	}
	if len(stun) > 0 {
		return stun[0]
	}
	return ""
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// FromConfig returns the Provider for the configured external servers:
// stun_uri, turn_uris and either turn_username/turn_credential or
// turn_secret.
func FromConfig(cfg config.Config) *Provider {
	return New(Options{
		STUN:       []string{cfg.StunURI},
		TURN:       cfg.TurnURIs,
		Username:   cfg.TurnUsername,
		Credential: cfg.TurnCredential,
		Secret:     []byte(cfg.TurnSecret),
		TTL:        cfg.TurnCredentialTTL,
	})
}

// External reports whether cfg names any external STUN or TURN server.
func External(cfg config.Config) bool { return cfg.StunURI != "" || len(cfg.TurnURIs) > 0 }
