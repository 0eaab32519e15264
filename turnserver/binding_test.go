package turnserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/turnserver"
)

const bindSecret = "turn-binding-test-secret-32-bytes-long"

// boundEnv is a duet server that needs room tokens and hands out
// credentials for an embedded TURN server, which it can tell of removals.
type boundEnv struct {
	*env
	srv   *testserver.Server
	rooms *hub.Local
}

func startBound(t *testing.T, mutate func(*turnserver.Options)) *boundEnv {
	t.Helper()
	e := start(t, mutate)
	stun, turnURIs := e.srv.URIs()
	authz, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(bindSecret))})
	if err != nil {
		t.Fatal(err)
	}
	c := testserver.Config()
	rooms := server.NewLocal(c, nil)
	t.Cleanup(rooms.Close)
	srv := testserver.Start(t, c, server.Options{Authorizer: authz, Rooms: rooms, TURN: e.srv,
		ICE: ice.New(ice.Options{STUN: stun, TURN: turnURIs, Secret: secret, TTL: 24 * time.Hour})})
	return &boundEnv{env: e, srv: srv, rooms: rooms}
}

// credential joins room q with tok on a new socket, takes the TURN
// credential its join was granted, and leaves again unless stay.
func (b *boundEnv) credential(t *testing.T, tok string, stay bool) (user, pass string) {
	t.Helper()
	c := wstest.Dial(t, b.srv.URL("WebRTCAppEE"))
	c.Send(wstest.Msg{"command": "getIceServerConfig"})
	c.Send(wstest.Msg{"command": "join", "streamId": "q", "token": tok})
	m := c.Expect("iceServerConfig", "")
	c.Expect("notification", "joined")
	if !stay {
		c.Send(wstest.Msg{"command": "leave", "streamId": "q"})
		c.Expect("notification", "leaved")
	}
	return m.Str("turnServerUsername"), m.Str("turnServerCredential")
}

// TestTURNBoundToToken is issue #20's third finding: one short room token
// bought any number of credentials (one per socket that brought it), each
// valid for a day with its own quota, and their allocations outlived the
// token. Now every credential minted for the token expires with it, the
// allocations of all of them together are capped per token, and they end
// when the token expires.
func TestTURNBoundToToken(t *testing.T) {
	b := startBound(t, func(o *turnserver.Options) { o.TokenQuota = 4; o.UserQuota = 10 })
	exp := time.Now().Add(3 * time.Second).Truncate(time.Second)
	tok, err := auth.Mint("HS256", "", []byte(bindSecret), "WebRTCAppEE", "q", "", time.Now(), time.Until(exp), 0)
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	allocated := 0
	for range 6 { // six sockets bring the same token
		user, pass := b.credential(t, tok, false)
		expiry, err := ice.CheckUsername(user, time.Now())
		if err != nil {
			t.Fatalf("credential %q: %v", user, err)
		}
		if expiry.After(exp) {
			t.Fatalf("credential %q expires at %s, after its token (%s)", user, expiry, exp)
		}
		if !strings.HasSuffix(user, "@"+auth.TokenID(tok)) {
			t.Fatalf("credential %q is not bound to the token", user)
		}
		users = append(users, user)
		if relay, err := b.client(t, user, pass, false).Allocate(); err == nil {
			allocated++
			t.Cleanup(func() { relay.Close() })
		}
	}
	if allocated != 4 || b.env.srv.Allocations() != 4 {
		t.Fatalf("%d allocations (server: %d) from one token, want its quota of 4", allocated, b.env.srv.Allocations())
	}
	if got := b.metric(t, "duet_turn_refused_total", "token_quota"); got != 2 {
		t.Errorf("token_quota refusals = %v, want 2", got)
	}
	// The token expires: so do its credentials, and their allocations end.
	waitFor(t, "the token's allocations to end", func() bool { return b.env.srv.Allocations() == 0 })
	if got := b.metric(t, "duet_turn_allocations_ended_total", "expired"); got != 4 {
		t.Errorf("allocations ended as expired = %v, want 4", got)
	}
	if _, err := b.client(t, users[5], ice.Password(secret, users[5]), false).Allocate(); err == nil {
		t.Fatal("an expired token's credential allocated again")
	}
}

// TestTURNEndsWithRemovedMember: a member an operator removes loses its
// allocations at once, and its credential is refused from then on.
func TestTURNEndsWithRemovedMember(t *testing.T) {
	b := startBound(t, nil)
	tok, _ := auth.Mint("HS256", "", []byte(bindSecret), "WebRTCAppEE", "q", "", time.Now(), time.Hour, 0)
	user, pass := b.credential(t, tok, true)
	relay, err := b.client(t, user, pass, false).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	snap, err := b.rooms.Snapshot(context.Background(), hub.Filter{App: "WebRTCAppEE", Stream: "q"})
	if err != nil || len(snap.Rooms) != 1 {
		t.Fatalf("snapshot: %v %+v", err, snap)
	}
	k := hub.Key{App: "WebRTCAppEE", Stream: "q"}
	if err := b.rooms.Kick(context.Background(), k, snap.Rooms[0].Members[0].ID, hub.ReasonKicked); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removed member's allocation to end", func() bool { return b.env.srv.Allocations() == 0 })
	if got := b.metric(t, "duet_turn_allocations_ended_total", "removed"); got != 1 {
		t.Errorf("allocations ended as removed = %v, want 1", got)
	}
	if _, err := b.client(t, user, pass, false).Allocate(); err == nil {
		t.Fatal("a removed member's credential allocated again")
	}
	if got := b.metric(t, "duet_turn_refused_total", "revoked"); got < 1 {
		t.Errorf("revoked refusals = %v, want at least 1", got)
	}
}

// TestTURNQuotaPerAddress: allocations are capped per client address,
// whatever credentials they use.
func TestTURNQuotaPerAddress(t *testing.T) {
	e := start(t, func(o *turnserver.Options) { o.IPQuota = 3 })
	for i := range 4 {
		user, pass := ice.Mint(secret, "live.ip"+string(rune('a'+i)), time.Now().Add(time.Hour))
		relay, err := e.client(t, user, pass, i%2 == 1).Allocate()
		if i < 3 {
			if err != nil {
				t.Fatalf("allocation %d: %v", i+1, err)
			}
			t.Cleanup(func() { relay.Close() })
			continue
		}
		if err == nil {
			relay.Close()
			t.Fatal("a fourth allocation from one address passed its quota of 3")
		}
	}
	if got := e.metric(t, "duet_turn_refused_total", "ip_quota"); got != 1 {
		t.Errorf("ip_quota refusals = %v, want 1", got)
	}
}

// TestTURNCredentialRenewedByRejoin: a member renews what its token
// granted by joining its room again with a fresh token; the next
// getIceServerConfig mints a credential bound to that one. A renewal with
// a bad token is refused and changes nothing.
func TestTURNCredentialRenewedByRejoin(t *testing.T) {
	b := startBound(t, nil)
	short, _ := auth.Mint("HS256", "", []byte(bindSecret), "WebRTCAppEE", "q", "", time.Now(), time.Minute, 0)
	long, _ := auth.Mint("HS256", "", []byte(bindSecret), "WebRTCAppEE", "q", "", time.Now(), time.Hour, 0)
	c := wstest.Dial(t, b.srv.URL("WebRTCAppEE"))
	c.Send(wstest.Msg{"command": "join", "streamId": "q", "token": short})
	c.Expect("notification", "joined")
	ask := func() string {
		c.Send(wstest.Msg{"command": "getIceServerConfig"})
		return c.Expect("iceServerConfig", "").Str("turnServerUsername")
	}
	first := ask()
	c.Send(wstest.Msg{"command": "join", "streamId": "q", "token": "not-a-token"})
	c.Expect("error", "authenticationTokenNotValid")
	if got := ask(); got != first {
		t.Fatalf("a refused renewal changed the credential: %q then %q", first, got)
	}
	c.Send(wstest.Msg{"command": "join", "streamId": "q", "token": long})
	c.Expect("notification", "joined")
	renewed := ask()
	e1, _ := ice.CheckUsername(first, time.Now())
	e2, err := ice.CheckUsername(renewed, time.Now())
	if err != nil || !e2.After(e1.Add(30*time.Minute)) || !strings.HasSuffix(renewed, "@"+auth.TokenID(long)) {
		t.Fatalf("renewed credential %q (%v), first %q: want one bound to the longer token", renewed, err, first)
	}
}

// TestCloseTwice: Close may be called again (a deferred Close after an
// explicit one), and returns at once.
func TestCloseTwice(t *testing.T) {
	e := start(t, nil)
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
}
