package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/duet-rtc/duet/client"
)

// meshSession is duet peer --mesh: a member of a mesh room that sends
// stdin to every member it is connected to (client.Mesh.Broadcast) and
// writes what any member sends to stdout, until stdin ends (what was sent
// is then flushed to every member) or the run is interrupted.
func meshSession(ctx context.Context, cfg peerConfig, stdin io.Reader, stdout, stderr io.Writer, rep *reporter) (int, error) {
	log := slog.New(slog.DiscardHandler)
	if cfg.verb {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if cfg.timeout > 0 {
		var stop context.CancelFunc
		cctx, stop = context.WithTimeoutCause(cctx, cfg.timeout, errTimeout)
		defer stop()
	}
	c, err := client.Dial(cctx, cfg.url, &client.Options{Logger: log})
	if err != nil {
		return connectCode(ctx, cctx, err, exitConnFailed), err
	}
	defer c.Close()
	var joinOpts []client.JoinOption
	if cfg.token != "" {
		joinOpts = append(joinOpts, client.WithToken(cfg.token))
	}
	m, err := client.JoinMesh(cctx, c, cfg.room, &client.MeshOptions{MaxPeers: cfg.mesh, Peer: client.PeerOptions{
		Logger: log, Loopback: cfg.loopback, JoinOptions: joinOpts, OnEvent: rep.peerEvent}})
	if err != nil {
		return connectCode(ctx, cctx, err, exitConnFailed), err
	}
	defer m.Close()
	rep.event("waiting", fmt.Sprintf("joined room %s (member %s of at most %d), waiting for %d members", cfg.room, m.ID(), m.MaxPeers(), cfg.waitPeers),
		map[string]any{"room": cfg.room, "id": m.ID(), "maxPeers": m.MaxPeers()})

	// Every pair that connects writes what it receives to stdout.
	var outMu sync.Mutex
	var wg sync.WaitGroup
	rctx, stopRecv := context.WithCancel(ctx)
	defer func() { stopRecv(); wg.Wait() }()
	connected := make(chan client.MeshSession)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			s, err := m.Accept(rctx)
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					msg, err := s.Recv(rctx)
					if err != nil {
						return
					}
					outMu.Lock()
					stdout.Write(msg.Data)
					outMu.Unlock()
				}
			}()
			select {
			case connected <- s:
			case <-rctx.Done():
				return
			}
		}
	}()
	for n := 0; n < cfg.waitPeers; n++ {
		select {
		case <-connected:
		case <-cctx.Done():
			return connectCode(ctx, cctx, context.Cause(cctx), exitConnFailed), context.Cause(cctx)
		}
	}
	go func() { // later members need no one to wait for them
		for {
			select {
			case <-connected:
			case <-rctx.Done():
				return
			}
		}
	}()

	buf := make([]byte, 16<<10)
	for {
		n, rerr := stdin.Read(buf)
		if n > 0 {
			if _, err := m.Broadcast(ctx, append([]byte(nil), buf[:n]...)); err != nil && ctx.Err() == nil {
				rep.event("send_error", err.Error(), nil)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return exitError, rerr
		}
	}
	// Delivered to every member before leaving.
	// A member that left meanwhile is no failure.
	if err := m.Flush(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, client.ErrPeerLeft) {
		return exitConnFailed, err
	}
	if ctx.Err() != nil {
		return exitInterrupted, ctx.Err()
	}
	return exitOK, nil
}
