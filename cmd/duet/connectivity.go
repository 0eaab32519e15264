package main

import (
	"crypto/rand"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/turnserver"
)

// withConnectivity starts the embedded TURN server when turn_enabled is set
// and chooses what getIceServerConfig answers: the external servers when
// any is configured, else the embedded one with credentials minted from
// turn_secret (a random one when none is set, which only this process
// knows). The returned function stops the TURN server.
func withConnectivity(cfg config.Config, log *slog.Logger, opts *server.Options) (func(), error) {
	if !cfg.TurnEnabled {
		opts.ICE = ice.FromConfig(cfg)
		return func() {}, nil
	}
	secret := []byte(cfg.TurnSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
		log.Warn("turn_secret is not set: using a random one; other duet nodes cannot mint credentials for this TURN server")
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	ts, err := turnserver.Start(turnserver.OptionsFromConfig(cfg, secret, opts.Registry, log))
	if err != nil {
		return nil, err
	}
	opts.TURN = ts // a member an operator removes loses its relays
	if ice.External(cfg) {
		opts.ICE = ice.FromConfig(cfg)
	} else {
		stun, turn := ts.URIs()
		opts.ICE = ice.New(ice.Options{STUN: stun, TURN: turn, Secret: secret, TTL: cfg.TurnCredentialTTL})
	}
	return func() { ts.Close() }, nil
}
