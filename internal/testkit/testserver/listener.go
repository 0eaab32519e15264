package testserver

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/server"
)

// StartOn is Start on a given address instead of 127.0.0.1:0: an address
// inside a test network (see internal/testkit/netlab), or the port of a server the
// test stopped, to start its successor where the clients look for it.
func StartOn(t testing.TB, addr string, cfg config.Config, opts server.Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		level := slog.LevelWarn
		level.UnmarshalText([]byte(os.Getenv("DUET_TEST_LOG")))
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Server: srv, Addr: ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { s.Stop(t) })
	return s
}
