package ice

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/protocol"
)

// The password of a known username, computed independently
// (base64(HMAC-SHA1("north-wind", "1700000000:alice")), as coturn does).
func TestMintMatchesTURNRESTForm(t *testing.T) {
	user, pass := Mint([]byte("north-wind"), "alice", time.Unix(1700000000, 0))
	if user != "1700000000:alice" || pass != "Oko4dt8u/EbTRjRUJWQDFm/zTCc=" {
		t.Fatalf("Mint = %q %q", user, pass)
	}
	if !CheckPassword([]byte("north-wind"), user, pass) || CheckPassword([]byte("other"), user, pass) {
		t.Fatal("CheckPassword disagrees with Mint")
	}
}

func TestCheckUsername(t *testing.T) {
	now := time.Unix(1700000000, 0)
	if _, err := CheckUsername("1700000060:x", now); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	if _, err := CheckUsername("1700000000:x", now); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	for _, u := range []string{"alice", ":x", "-5:x", "soon:x", ""} {
		if _, err := CheckUsername(u, now); !errors.Is(err, ErrBadUsername) {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestNothingConfiguredAnswersEmpty(t *testing.T) {
	c := FromConfig(config.Default()).ICEServerConfig(context.Background(), Member{Label: "live"})
	if c.StunServerURI != "" || c.TurnServerUsername != "" || c.TurnServerCredential != "" || len(c.ICEServers) != 0 {
		t.Fatalf("got %+v", c)
	}
}

// The old static provider sent the TURN username and password on a stun:
// entry; credentials belong only to turn:/turns: entries.
func TestStunURIGetsNoCredentials(t *testing.T) {
	cfg := config.Default()
	cfg.StunURI, cfg.TurnUsername, cfg.TurnCredential = "stun:stun.example.com:3478", "u", "p"
	c := FromConfig(cfg).ICEServerConfig(context.Background(), Member{Label: "live"})
	if c.StunServerURI != cfg.StunURI || c.TurnServerUsername != "" || c.TurnServerCredential != "" {
		t.Fatalf("legacy fields %+v", c)
	}
	if len(c.ICEServers) != 1 || c.ICEServers[0].Username != "" || c.ICEServers[0].Credential != "" {
		t.Fatalf("iceServers %+v", c.ICEServers)
	}
}

func TestStaticTURN(t *testing.T) {
	cfg := config.Default()
	cfg.StunURI = "stun:h:3478"
	cfg.TurnURIs = []string{"turns:h:5349?transport=tcp", "turn:h:3478?transport=tcp", "turn:h:3478?transport=udp"}
	cfg.TurnUsername, cfg.TurnCredential = "u", "p"
	c := FromConfig(cfg).ICEServerConfig(context.Background(), Member{Label: "live"})
	want := []protocol.ICEServer{{URLs: []string{"stun:h:3478"}}, {URLs: cfg.TurnURIs, Username: "u", Credential: "p"}}
	if !equal(c.ICEServers, want) {
		t.Fatalf("iceServers %+v", c.ICEServers)
	}
	// Ant Media's JS SDK reads one URI and uses it only if it starts with turn: or stun:.
	if c.StunServerURI != "turn:h:3478?transport=udp" || c.TurnServerUsername != "u" || c.TurnServerCredential != "p" {
		t.Fatalf("legacy fields %+v", c)
	}
}

// stun_uri once held a turn: URI with turn_username/turn_credential; that
// still works.
func TestTurnInStunURI(t *testing.T) {
	cfg := config.Default()
	cfg.StunURI, cfg.TurnUsername, cfg.TurnCredential = "turn:127.0.0.1:3478", "user", "pass"
	c := FromConfig(cfg).ICEServerConfig(context.Background(), Member{Label: "live"})
	if c.StunServerURI != cfg.StunURI || c.TurnServerUsername != "user" || c.TurnServerCredential != "pass" ||
		len(c.ICEServers) != 1 || c.ICEServers[0].Username != "user" {
		t.Fatalf("got %+v", c)
	}
}

func TestMintedCredentials(t *testing.T) {
	now := time.Unix(1700000000, 0)
	p := New(Options{STUN: []string{"stun:h:3478"}, TURN: []string{"turn:h:3478"}, Secret: []byte("s3cret"), TTL: time.Hour,
		Now: func() time.Time { return now }})
	a := p.ICEServerConfig(context.Background(), Member{Label: "live"})
	b := p.ICEServerConfig(context.Background(), Member{Label: "live"})
	if a.TurnServerUsername == b.TurnServerUsername {
		t.Fatal("two requests got the same credential")
	}
	for _, c := range []protocol.ICEServerConfig{a, b} {
		ts, user, _ := strings.Cut(c.TurnServerUsername, ":")
		if ts != "1700003600" || !strings.HasPrefix(user, "live.") {
			t.Fatalf("username %q", c.TurnServerUsername)
		}
		if !CheckPassword([]byte("s3cret"), c.TurnServerUsername, c.TurnServerCredential) {
			t.Fatal("minted password does not verify")
		}
		if c.ICEServers[1].Username != c.TurnServerUsername || c.ICEServers[1].Credential != c.TurnServerCredential || c.ICEServers[0].Username != "" {
			t.Fatalf("iceServers %+v", c.ICEServers)
		}
		if _, err := CheckUsername(c.TurnServerUsername, now.Add(59*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckUsername(c.TurnServerUsername, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
			t.Fatal("credential outlives its TTL")
		}
	}
}

func equal(a, b []protocol.ICEServer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i].URLs, " ") != strings.Join(b[i].URLs, " ") || a[i].Username != b[i].Username || a[i].Credential != b[i].Credential {
			return false
		}
	}
	return true
}
