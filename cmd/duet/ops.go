package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/ops"
	"github.com/duet-rtc/duet/server"
)

// webhookFlush bounds how long a stopping server keeps delivering queued
// webhooks after its sockets have drained.
const webhookFlush = 5 * time.Second

// withOps sets up the admin API and page, webhooks and the reload of token
// keys on SIGHUP. The returned function flushes webhooks; call it after
// the server has drained.
func withOps(ctx context.Context, cfg config.Config, log *slog.Logger, authz *auth.Authorizer, opts *server.Options) (*ops.Ops, func(), error) {
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	oo := ops.Options{Config: cfg, Version: version, Logger: log, Registry: opts.Registry}
	if authz != nil {
		oo.Tokens, oo.Subscribers = authz, authz
	}
	x, err := ops.Setup(oo, opts)
	if err != nil {
		return nil, nil, err
	}
	if authz != nil && cfg.TokenKeyFile != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		go reloadOn(ctx, hup, authz, log)
	}
	return x, func() {
		fctx, cancel := context.WithTimeout(context.Background(), webhookFlush)
		defer cancel()
		x.Close(fctx)
	}, nil
}

// reloader is what reloadOn reloads (auth.Authorizer).
type reloader interface{ Reload() error }

// reloadOn reloads the token keys each time a signal arrives, until ctx
// ends. A key file that does not parse leaves the keys in use.
func reloadOn(ctx context.Context, sig chan os.Signal, r reloader, log *slog.Logger) {
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			if err := r.Reload(); err != nil && !errors.Is(err, auth.ErrNoKeyFile) {
				log.Error("SIGHUP: token keys not reloaded", "err", err)
			}
		}
	}
}
