// Package testserver runs a real duet server on a loopback :0 port for
// tests, and stops it (with a full drain) when the test ends.
package testserver

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/server"
)

// Server is a running test server.
type Server struct {
	*server.Server
	Addr string // host:port
	stop context.CancelFunc
	done chan error
	once sync.Once
}

// URL is the WebSocket URL of app (e.g. "WebRTCAppEE").
func (s *Server) URL(app string) string { return "ws://" + s.Addr + "/" + app + "/websocket" }

// HTTP is the base http:// URL.
func (s *Server) HTTP() string { return "http://" + s.Addr }

// Start runs a server with cfg (already holding the test's changes to
// config.Default()) and opts. Listen in cfg is ignored: it binds
// 127.0.0.1:0. A nil logger logs to the test at warn level, or at the
// level named by $DUET_TEST_LOG.
func Start(t testing.TB, cfg config.Config, opts server.Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		level := slog.LevelWarn
		level.UnmarshalText([]byte(os.Getenv("DUET_TEST_LOG"))) // e.g. DUET_TEST_LOG=debug
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Server: srv, Addr: ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop drains the server and waits for Serve to return. It is safe to call
// more than once.
func (s *Server) Stop(t testing.TB) {
	s.once.Do(func() {
		s.stop()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("testserver: serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("testserver: server did not stop within 30s")
		}
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// VerifyTestMain runs the package's tests and then fails if any goroutine
// started by them is still running. Goroutines that exist before the tests
// start (a package's init may start some) are not counted.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// Config is config.Default() with timings short enough for tests: a half
// second to answer a probe, two seconds to drain, and no rate limit.
func Config() config.Config {
	c := config.Default()
	c.ProbeTimeout = 500 * time.Millisecond
	c.DrainTimeout = 2 * time.Second
	c.RateLimit = 0
	return c
}
