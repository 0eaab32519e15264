package turnserver_test

import (
	"testing"
	"time"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/turnserver"
)

// TestQuotaPerMember: with tokens required, each member of a room gets
// one TURN credential for its socket however often it asks, so the
// embedded server's quota per credential is a quota per member; another
// member has its own; a socket without a valid join gets none.
func TestQuotaPerMember(t *testing.T) {
	e := start(t, func(o *turnserver.Options) { o.UserQuota = 2 })
	stun, turnURIs := e.srv.URIs()
	const tokSecret = "member-quota-test-secret-32-bytes-long"
	authz, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(tokSecret))})
	if err != nil {
		t.Fatal(err)
	}
	srv := testserver.Start(t, testserver.Config(), server.Options{Authorizer: authz,
		ICE: ice.New(ice.Options{STUN: stun, TURN: turnURIs, Secret: secret, TTL: time.Hour})})
	member := func(tok string) (string, string) {
		c := wstest.Dial(t, srv.URL("WebRTCAppEE"))
		c.Send(wstest.Msg{"command": "getIceServerConfig"})
		join := wstest.Msg{"command": "join", "streamId": "q"}
		if tok != "" {
			join["token"] = tok
		}
		c.Send(join)
		var m wstest.Msg
		for m = c.Read(); m.Str("command") != "iceServerConfig"; m = c.Read() {
		}
		user, pass := m.Str("turnServerUsername"), m.Str("turnServerCredential")
		if tok == "" {
			return user, pass // refused; asking again waits for a join
		}
		for range 3 { // asking again changes nothing
			c.Send(wstest.Msg{"command": "getIceServerConfig"})
			for m = c.Read(); m.Str("command") != "iceServerConfig"; m = c.Read() {
			}
			if m.Str("turnServerUsername") != user {
				t.Fatalf("a member got a second credential: %q then %q", user, m.Str("turnServerUsername"))
			}
		}
		return user, pass
	}
	tok, _ := auth.Mint("HS256", "", []byte(tokSecret), "WebRTCAppEE", "q", "", time.Now(), time.Hour, 0)
	user, pass := member(tok)
	for i := range 2 {
		relay, err := e.client(t, user, pass, false).Allocate()
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		t.Cleanup(func() { relay.Close() })
	}
	if _, err := e.client(t, user, pass, false).Allocate(); err == nil {
		t.Fatal("a member got more allocations than its quota")
	}
	other, otherPass := member(tok)
	if other == user {
		t.Fatal("two members share a credential")
	}
	relay, err := e.client(t, other, otherPass, false).Allocate()
	if err != nil {
		t.Fatalf("the other member's allocation: %v", err)
	}
	relay.Close()
	if u, _ := member(""); u != "" {
		t.Fatalf("a socket without a token got credential %q", u)
	}
}
