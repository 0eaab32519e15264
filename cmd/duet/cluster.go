package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/server"
)

// withCluster chooses the clustered room backend when the config asks for
// it (nats_url, or nats_embedded for development) and sets it, with the
// registry its metrics go to, in opts. The returned function stops the
// backend (and the embedded NATS server) after the server has drained.
func withCluster(ctx context.Context, cfg config.Config, log *slog.Logger, opts *server.Options) (func(), error) {
	if cfg.NATSURL == "" && !cfg.NATSEmbedded {
		return func() {}, nil
	}
	url := cfg.NATSURL
	var emb *cluster.Embedded
	if cfg.NATSEmbedded {
		var err error
		emb, err = cluster.StartEmbedded(cluster.EmbeddedOptions{
			Listen: cfg.NATSEmbeddedListen, StoreDir: cfg.NATSStoreDir, ServerName: cfg.NodeID,
		})
		if err != nil {
			return nil, err
		}
		url = emb.URL()
		log.Info("embedded NATS server started", "url", url, "store", cfg.NATSStoreDir)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	cl, err := cluster.New(ctx, cluster.Options{
		URL:          url,
		NodeID:       cfg.NodeID,
		Replicas:     cfg.NATSKVReplicas,
		ProbeTimeout: cfg.ProbeTimeout,
		DeadAfter:    cfg.NodeDeadAfter,
		Heartbeat:    cfg.NodeDeadAfter / 6,
		StartTimeout: cfg.NATSStartTimeout,
		// Seats of resumable members are held as on one node, and their
		// kept frames bounded the same way (server.NewLocal).
		ReconnectGrace: cfg.ReconnectGrace,
		HoldBytes:      server.HoldBytes(cfg),
		HoldCaps:       server.HoldCaps(cfg),
		Logger:         log,
		Registerer:     opts.Registry,
	})
	if err != nil {
		if emb != nil {
			emb.Shutdown()
		}
		return nil, err
	}
	opts.Rooms = cl
	return func() {
		cl.Close()
		if emb != nil {
			emb.Shutdown()
		}
	}, nil
}
