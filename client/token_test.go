package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/server"
)

const tokenSecret = "a-test-secret-of-at-least-32-bytes!!"

// tokenServer runs a server that checks room tokens with the real JWT
// authorizer on a clock the test can move forward, so tokens expire
// without waiting.
func tokenServer(t *testing.T) (srv *testserver.Server, now func() time.Time, advance func(time.Duration)) {
	var skew atomic.Int64
	now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	a, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(tokenSecret)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv = testserver.Start(t, testserver.Config(), server.Options{Authorizer: a})
	return srv, now, func(d time.Duration) { skew.Add(int64(d)) }
}

func mintToken(t *testing.T, room string, at time.Time, ttl time.Duration) string {
	tok, err := auth.Mint("HS256", "", []byte(tokenSecret), "WebRTCAppEE", room, "", at, ttl, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestTokenRefresh: alice's token expires during the call and her socket
// is cut. Her token source first hands out the same (now expired) token,
// as a cache would; the server refuses that rejoin, the client asks the
// source again, gets a fresh token and takes its seat back. The call never
// notices.
func TestTokenRefresh(t *testing.T) {
	srv, now, advance := tokenServer(t)
	const room = "tokens"
	var calls atomic.Int32
	var cached string
	source := func(ctx context.Context) (string, error) {
		switch calls.Add(1) {
		case 1:
			cached = mintToken(t, room, now(), time.Minute)
			return cached, nil
		case 2:
			return cached, nil // stale: the cache thinks it still holds
		}
		return mintToken(t, room, now(), time.Minute), nil
	}
	px := tcpproxy.Start(t, srv.Addr)
	c := &call{px: px, la: &eventLog{}, lb: &eventLog{}}
	c.alice = newPeer(t, dial(t, px.URL("WebRTCAppEE")), room, &client.PeerOptions{
		OnEvent: c.la.add, JoinOptions: []client.JoinOption{client.WithTokenSource(source)},
	})
	bc := dial(t, srv.URL("WebRTCAppEE"))
	c.stops = bc.Subscribe(room)
	t.Cleanup(c.stops.Close)
	c.bob = newPeer(t, bc, room, &client.PeerOptions{
		OnEvent: c.lb.add, JoinOptions: []client.JoinOption{client.WithToken(mintToken(t, room, now(), time.Hour))},
	})
	c.sa, c.sb = accept(t, c.alice), accept(t, c.bob)
	c.outA, c.outB = sendNumbered(t, c.sa, 5*time.Millisecond), sendNumbered(t, c.sb, 5*time.Millisecond)
	c.inB, c.inA = checkNumbered(t, c.sb), checkNumbered(t, c.sa)

	advance(2 * time.Minute) // alice's first token has expired
	px.Cut()
	waitLogged(t, c.la, "alice resumes her seat", func(e client.PeerEvent) bool { return e.Kind == client.EventJoined && e.Resumed })
	if !c.la.find(func(e client.PeerEvent) bool {
		return e.Kind == client.EventServerError && errors.Is(e.Err, protocol.ErrTokenNotValid)
	}) {
		t.Error("the stale token was not refused: the test did not exercise the retry")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("token source called %d times, want 3 (join, stale rejoin, fresh rejoin)", n)
	}
	if err := c.alice.Err(); err != nil {
		t.Fatalf("alice's peer stopped: %v", err)
	}
	c.finish(t)
}

// TestExpiredTokenWithoutSource: with a fixed token, a rejoin refused for
// its token is final: the peer stops with the server's error.
func TestExpiredTokenWithoutSource(t *testing.T) {
	srv, now, advance := tokenServer(t)
	const room = "fixed"
	px := tcpproxy.Start(t, srv.Addr)
	alice := newPeer(t, dial(t, px.URL("WebRTCAppEE")), room, &client.PeerOptions{
		JoinOptions: []client.JoinOption{client.WithToken(mintToken(t, room, now(), time.Minute))},
	})
	advance(2 * time.Minute)
	px.Cut()
	_, err := alice.Accept(ctxFor(t))
	if !errors.Is(err, protocol.ErrTokenNotValid) {
		t.Fatalf("accept after the refused rejoin: %v, want authenticationTokenNotValid", err)
	}
}
