package main

import (
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/server"
)

// withConnectivity starts the embedded TURN server when turn_enabled is set
// and chooses what getIceServerConfig answers: the external servers when
// any is configured, else the embedded one, with credentials minted from
// the TURN secret (turnSecret). ln is the main listener, whose port TURN
// over TLS may share. The returned function stops the TURN server.
func withConnectivity(cfg config.Config, log *slog.Logger, getenv func(string) string, src *certs.Source, ln net.Listener, opts *server.Options) (func(), error) {
	if !cfg.TurnEnabled {
		if len(cfg.TurnURIs) > 0 && cfg.TurnSecret == "" && cfg.TurnUsername == "" {
			// turn_uris with turn_secret_file: the secret a TURN server
			// of ours (duet turn) keeps there.
			secret, err := turnSecret(cfg, getenv, false, log)
			if err != nil {
				return nil, err
			}
			cfg.TurnSecret = string(secret)
		}
		opts.ICE = ice.FromConfig(cfg)
		return func() {}, nil
	}
	secret, err := turnSecret(cfg, getenv, true, log)
	if err != nil {
		return nil, err
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	tt := turnTLS{cfg: src.TLS}
	if cfg.TURNTLSShared() {
		tt.sharedPort = ln.Addr().(*net.TCPAddr).Port
	}
	ts, err := startTURN(cfg, secret, tt, opts.Registry, log)
	if err != nil {
		return nil, err
	}
	opts.TURN = ts // a member an operator removes loses its relays
	if tt.sharedPort != 0 {
		opts.TURNTLS = ts
	}
	if ice.External(cfg) {
		if cfg.TurnSecret == "" && cfg.TurnUsername == "" {
			cfg.TurnSecret = string(secret)
		}
		opts.ICE = ice.FromConfig(cfg)
	} else {
		stun, turn := ts.URIs()
		opts.ICE = ice.New(ice.Options{STUN: stun, TURN: turn, Secret: secret, TTL: cfg.TurnCredentialTTL})
	}
	return func() { ts.Close() }, nil
}
