package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

// TestEchoBot: the bot serves two rooms; in one of them two peers come one
// after the other, and every message comes back, text as text and binary
// as binary.
func TestEchoBot(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(), server.Options{})
	url := srv.URL("WebRTCAppEE")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	botCtx, stopBot := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(botCtx, url, []string{"echo-a", "echo-b"}, true, slog.New(slog.DiscardHandler)) }()
	defer func() {
		stopBot()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	talk := func(room string, msgs ...string) {
		t.Helper()
		c, err := client.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Whether the bot is already there or joins later, the two meet.
		p, err := client.NewPeer(ctx, c, room, &client.PeerOptions{Loopback: true})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		s, err := p.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			binary := i%2 == 1
			if binary {
				err = s.Send(ctx, []byte(m))
			} else {
				err = s.SendText(ctx, m)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Recv(ctx)
			if err != nil || string(got.Data) != m || got.IsString == binary {
				t.Fatalf("%s: sent %q (binary %v), got %q (text %v), %v", room, m, binary, got.Data, got.IsString, err)
			}
		}
	}
	talk("echo-a", "hello", "bytes", "✓")
	talk("echo-b", "other room")
	talk("echo-a", "the next peer", "", "") // empty messages (duet peer's end marks) come back too
}
