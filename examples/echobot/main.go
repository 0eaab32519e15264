// Command echobot joins duet rooms as a Go peer and sends every data-channel
// message back to whoever is in the room, one peer after another.
//
//	go run ./examples/echobot --url ws://localhost:5080/WebRTCAppEE/websocket room1 room2
//
// Then open http://localhost:5080/?room=room1 and chat with it, or
//
//	echo hello | duet peer --room room2
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/duet-rtc/duet/client"
)

// streamHello tells duet peer that the bot speaks its stream protocol: an
// empty binary message marks the end of a stream and an empty text message
// acknowledges it. Echoing both back is exactly what that protocol asks of
// a partner that has nothing of its own to say, so `duet peer` gets its
// input back and exits cleanly.
const streamHello = `{"peer":"duet","stream":1}`

func main() {
	url := flag.String("url", "ws://localhost:5080/WebRTCAppEE/websocket", "WebSocket URL of the duet server")
	loopback := flag.Bool("loopback", false, "ICE over 127.0.0.1 only (a server and peers on this machine, no network)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: echobot [--url URL] [--loopback] ROOM...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, flag.Args(), *loopback, log); err != nil {
		log.Error("echobot stopped", "err", err)
		os.Exit(1)
	}
}

// run serves rooms on one signaling connection until ctx ends.
func run(ctx context.Context, url string, rooms []string, loopback bool, log *slog.Logger) error {
	c, err := client.Dial(ctx, url, &client.Options{Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, room := range rooms {
		p, err := client.NewPeer(ctx, c, room, &client.PeerOptions{
			Logger:   log,
			Loopback: loopback,
			Hello:    []byte(streamHello),
		})
		if err != nil {
			return fmt.Errorf("room %s: %w", room, err)
		}
		defer p.Close()
		log.Info("waiting for peers", "room", room)
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, p, log.With("room", room))
		}()
	}
	<-ctx.Done()
	return nil
}

// serve echoes for one peer after another until ctx ends or the peer
// stops.
func serve(ctx context.Context, p *client.Peer, log *slog.Logger) {
	for {
		s, err := p.Accept(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				log.Warn("room given up", "err", err)
			}
			return
		}
		log.Info("peer connected")
		n := 0
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				log.Info("peer gone", "messages", n, "reason", err)
				break
			}
			n++
			if m.IsString {
				err = s.SendText(ctx, string(m.Data))
			} else {
				err = s.Send(ctx, m.Data)
			}
			if err != nil {
				log.Info("peer gone", "messages", n, "reason", err)
				break
			}
		}
	}
}
