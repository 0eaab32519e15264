package client_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// wait bounds every wait of these tests.
const wait = 20 * time.Second

func startServer(t *testing.T) *testserver.Server {
	t.Helper()
	return testserver.Start(t, testserver.Config(), server.Options{})
}

// testLogger logs to the test at the level named by $DUET_TEST_LOG (warn
// by default).
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	level.UnmarshalText([]byte(os.Getenv("DUET_TEST_LOG")))
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: level}))
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// dial connects a client with short keep-alive timings, closed at the end
// of the test.
func dial(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.Dial(ctxFor(t), url, &client.Options{
		Logger:       testLogger(t).With("side", "client"),
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newPeer joins room on loopback ICE; the peer is closed at the end of the
// test.
func newPeer(t *testing.T, c *client.Client, room string, opts *client.PeerOptions) *client.Peer {
	t.Helper()
	var o client.PeerOptions
	if opts != nil {
		o = *opts
	}
	o.Loopback = true
	if o.Logger == nil {
		o.Logger = testLogger(t).With("side", "peer")
	}
	p, err := client.NewPeer(ctxFor(t), c, room, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func accept(t *testing.T, p *client.Peer) *client.Session {
	t.Helper()
	s, err := p.Accept(ctxFor(t))
	if err != nil {
		t.Fatalf("accept in %s: %v", p.Room(), err)
	}
	return s
}

func recvText(t *testing.T, s *client.Session) string {
	t.Helper()
	m, err := s.Recv(ctxFor(t))
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return string(m.Data)
}
