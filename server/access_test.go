package server_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

const (
	accessSecret = "access-test-secret-of-32-bytes-or-more"
	turnSecret   = "turn-secret-of-the-access-tests"
	turnURI      = "turn:203.0.113.1:3478?transport=udp"
)

// startAccess runs the protocol tests' server (a cluster when
// DUET_TEST_NODES is set) with opts: tokens and ICE servers.
func startAccess(t *testing.T, opts server.Options) *env {
	t.Helper()
	n, _ := strconv.Atoi(os.Getenv("DUET_TEST_NODES"))
	cfg := testserver.Config()
	if n <= 1 {
		return &env{nodes: []*testserver.Server{testserver.Start(t, cfg, opts)}}
	}
	return startCluster(t, n, cfg, nil, opts)
}

func accessOptions(t *testing.T) server.Options {
	t.Helper()
	authz, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(accessSecret))})
	if err != nil {
		t.Fatal(err)
	}
	provider := ice.New(ice.Options{STUN: []string{"stun:203.0.113.1:3478"}, TURN: []string{turnURI},
		Secret: []byte(turnSecret), TTL: 2 * time.Hour})
	return server.Options{Authorizer: authz, ICE: provider}
}

func roomToken(t *testing.T, room string) string {
	t.Helper()
	tok, err := auth.Mint("HS256", "", []byte(accessSecret), "WebRTCAppEE", room, "", time.Now(), time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func askICE(c *client) { c.Send(msg{"command": "getIceServerConfig"}) }

// expectEmptyICE reads an iceServerConfig that hands out nothing.
func expectEmptyICE(t *testing.T, c *client) {
	t.Helper()
	m := c.Expect("iceServerConfig", "")
	if m.Str("stunServerUri") != "" || m.Str("turnServerUsername") != "" || m.Str("turnServerCredential") != "" || m["iceServers"] != nil {
		t.Fatalf("refused socket got ICE servers: %v", m)
	}
}

// expectMemberICE reads an iceServerConfig with a TURN credential minted
// for a member of room and returns its username.
func expectMemberICE(t *testing.T, c *client, room string) string {
	t.Helper()
	m := c.Expect("iceServerConfig", "")
	user, pass := m.Str("turnServerUsername"), m.Str("turnServerCredential")
	expiry, err := ice.CheckUsername(user, time.Now())
	if err != nil || m.Str("stunServerUri") != turnURI || !ice.CheckPassword([]byte(turnSecret), user, pass) {
		t.Fatalf("member got %v (%v)", m, err)
	}
	if !strings.Contains(user, ":WebRTCAppEE."+room+".") {
		t.Fatalf("credential %q is not labelled with the member's room", user)
	}
	// The configured lifetime is 2h, the room token's 1h: the credential
	// lives no longer than the token (issue #20).
	if ttl := time.Until(expiry); ttl > time.Hour || ttl < 59*time.Minute {
		t.Fatalf("credential lives %v, want the room token's 1h", ttl)
	}
	return user
}

// With tokens required, a socket's getIceServerConfig waits for its join:
// a join with a valid token gets the answer, minted for the member, just
// before joined; any other outcome gets empty strings. A socket that never
// joins gets nothing.
func TestICEOnlyForAuthorizedMembers(t *testing.T) {
	e := startAccess(t, accessOptions(t))

	// Never joins: no answer at all (the pong is next).
	idle := wstest.Dial(t, e.URL("WebRTCAppEE"))
	askICE(idle)
	idle.Quiet()

	// No token, a token for another room, a forged token: empty answers.
	for name, tok := range map[string]string{"no token": "", "other room": roomToken(t, "other"), "forged": roomToken(t, "r1") + "x"} {
		c := wstest.Dial(t, e.URL("WebRTCAppEE"))
		askICE(c)
		join := msg{"command": "join", "streamId": "r1"}
		if tok != "" {
			join["token"] = tok
		}
		c.Send(join)
		if m := c.Read(); m.Str("command") != "error" {
			t.Fatalf("%s: join answered %v", name, m)
		}
		expectEmptyICE(t, c)
		c.Quiet()
		// Asked again after the failure: held for the next join, which
		// succeeds this time.
		askICE(c)
		c.Quiet()
		c.Send(msg{"command": "join", "streamId": "r1", "token": roomToken(t, "r1")})
		expectMemberICE(t, c, "r1")
		c.Expect("notification", "joined")
		c.Send(msg{"command": "leave", "streamId": "r1"})
		c.Expect("notification", "leaved")
	}

	// A valid join: the answer, then joined; asking again gives the same
	// credential (one per member: the TURN quota per credential holds).
	a := wstest.Dial(t, e.URL("WebRTCAppEE"))
	askICE(a)
	askICE(a)
	a.Quiet()
	a.Send(msg{"command": "join", "streamId": "r2", "token": roomToken(t, "r2")})
	user := expectMemberICE(t, a, "r2")
	a.Expect("notification", "joined")
	// The second held request is answered right after.
	if again := expectMemberICE(t, a, "r2"); again != user {
		t.Fatalf("second held request got another credential")
	}
	askICE(a)
	if again := expectMemberICE(t, a, "r2"); again != user {
		t.Fatalf("a later request got another credential: %q then %q", user, again)
	}

	// A valid token for a full room is not a membership: empty answer.
	b := wstest.Dial(t, e.URL("WebRTCAppEE"))
	b.Send(msg{"command": "join", "streamId": "r2", "token": roomToken(t, "r2")})
	b.Expect("notification", "joined")
	a.Expect("start", "")
	// Ant Media's JS SDK may join before it asks: answered at once.
	askICE(b)
	expectMemberICE(t, b, "r2")

	a.KeepReading() // both members answer the full room's probe
	b.KeepReading()
	full := wstest.Dial(t, e.URL("WebRTCAppEE"))
	askICE(full)
	full.Send(msg{"command": "join", "streamId": "r2", "token": roomToken(t, "r2")})
	full.Expect("error", "NoSpaceForNewPeer")
	expectEmptyICE(t, full)
}

// Without tokens every socket is answered at once, with one credential
// per socket.
func TestICEWithoutTokens(t *testing.T) {
	opts := accessOptions(t)
	opts.Authorizer = nil
	e := startAccess(t, opts)
	c := wstest.Dial(t, e.URL("WebRTCAppEE"))
	askICE(c)
	m1 := c.Expect("iceServerConfig", "")
	askICE(c)
	m2 := c.Expect("iceServerConfig", "")
	u := m1.Str("turnServerUsername")
	if _, err := ice.CheckUsername(u, time.Now()); err != nil || u != m2.Str("turnServerUsername") || !strings.Contains(u, ":WebRTCAppEE.") {
		t.Fatalf("answers %v and %v", m1, m2)
	}
	other := wstest.Dial(t, e.URL("WebRTCAppEE"))
	askICE(other)
	if m := other.Expect("iceServerConfig", ""); m.Str("turnServerUsername") == u {
		t.Fatal("two sockets share a credential")
	}
}

// A socket that lives longer than half its credential's lifetime gets a
// fresh one when it asks again (a long call's client that reconnects or
// restarts ICE), never an expired one.
func TestICECredentialRenewedAtHalfLife(t *testing.T) {
	opts := accessOptions(t)
	opts.ICE = ice.New(ice.Options{TURN: []string{turnURI}, Secret: []byte(turnSecret), TTL: 2 * time.Second})
	e := startAccess(t, opts)
	c := wstest.Dial(t, e.URL("WebRTCAppEE"))
	c.Send(msg{"command": "join", "streamId": "long", "token": roomToken(t, "long")})
	c.Expect("notification", "joined")
	askICE(c)
	first := c.Expect("iceServerConfig", "").Str("turnServerUsername")
	firstExpiry, err := ice.CheckUsername(first, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	askICE(c)
	if u := c.Expect("iceServerConfig", "").Str("turnServerUsername"); u != first {
		t.Fatalf("renewed at once: %q then %q", first, u)
	}
	wstest.Eventually(t, "a fresh credential", func() bool {
		askICE(c)
		u := c.Expect("iceServerConfig", "").Str("turnServerUsername")
		expiry, err := ice.CheckUsername(u, time.Now())
		if err != nil {
			t.Fatalf("an expired credential %q: %v", u, err)
		}
		return u != first && expiry.After(firstExpiry) && strings.Contains(u, ":WebRTCAppEE.long.")
	})
}
