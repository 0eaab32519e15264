// Package ops wires what operators use into a server: the admin API and
// page (package admin, web's admin page) and webhooks (package webhook)
// fed by the room backend's events.
package ops

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/push"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/web"
	"github.com/duet-rtc/duet/webhook"
)

// Options are what Setup needs.
type Options struct {
	Config config.Config
	// Tokens checks admin JWTs when admin_tokens is set
	// (auth.Authorizer).
	Tokens   admin.TokenChecker
	Version  string
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// NodeID names this node in listings when the backend does not (one
	// node): node_id, else the host name.
	NodeID string
	// Subscribers proves the subscriber ids of push commands
	// (auth.Authorizer); required with push on when room tokens are.
	Subscribers push.IdentityChecker
}

// Ops is the operators' side of one node.
type Ops struct {
	webhooks *webhook.Sender
	rec      *recorder
	api      *admin.API
	push     *push.Service
	srv      atomic.Pointer[server.Server]
	local    *hub.Local // the backend Setup made, if any; closed by Close
}

// Setup prepares the admin API and webhooks for the server that opts will
// build: it creates the in-process room backend when opts has none, so
// that the backend can report its events, and adds the admin routes to
// opts.Mount. Call Attach with the server once it exists, and Close after
// it has drained.
func Setup(o Options, opts *server.Options) (*Ops, error) {
	cfg := o.Config
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &Ops{}
	if opts.Rooms == nil {
		x.local = server.NewLocal(cfg, log)
		opts.Rooms = x.local
	}
	started := time.Now()
	node := o.NodeID
	if node == "" {
		node = cfg.NodeID
	}
	if node == "" {
		node, _ = os.Hostname()
	}
	if ad, ok := opts.Rooms.(hub.Admin); ok {
		ad.SetNodeInfo(func() hub.NodeInfo {
			n := hub.NodeInfo{ID: node, Version: o.Version, Started: started}
			if s := x.srv.Load(); s != nil {
				n.Connections = s.Connections()
			}
			return n
		})
	}
	x.rec = &recorder{calls: newCallLog(cfg.CallRecords)}
	ob, observable := opts.Rooms.(hub.Observable)
	if observable {
		ob.SetObserver(x.rec)
	}
	rep := &reports{rec: x.rec}
	if g, ok := opts.Rooms.(hub.Gatherer); ok {
		rep.gather = g
		if err := g.Answer(topicCalls, rep.answerCalls); err != nil {
			return nil, err
		}
		if err := g.Answer(topicQuality, rep.answerQuality); err != nil {
			return nil, err
		}
	}
	if len(cfg.WebhookURLs) > 0 {
		if !observable {
			return nil, errNotObservable
		}
		s, err := webhook.New(webhook.Options{
			URLs: cfg.WebhookURLs, Secret: []byte(cfg.WebhookSecret), QueueSize: cfg.WebhookQueue,
			Timeout: cfg.WebhookTimeout, MaxAttempts: cfg.WebhookMaxAttempts,
			Registerer: o.Registry, Logger: log.With("component", "webhook"),
		})
		if err != nil {
			return nil, err
		}
		x.webhooks = s
		x.rec.hooks = s
		log.Info("webhooks on", "urls", len(cfg.WebhookURLs))
	}
	if cfg.PushEnabled() {
		if err := x.setupPush(cfg, o, node, log, opts); err != nil {
			x.Close(context.Background())
			return nil, err
		}
	}
	if cfg.AdminKey != "" || (cfg.AdminTokens && o.Tokens != nil) {
		ad, ok := opts.Rooms.(hub.Admin)
		if !ok {
			x.Close(context.Background())
			return nil, errNoAdmin
		}
		var tokens admin.TokenChecker
		if cfg.AdminTokens {
			tokens = o.Tokens
		}
		ao := admin.Options{Key: cfg.AdminKey, Tokens: tokens, Rooms: ad, Logger: log.With("component", "admin")}
		if cfg.CallRecords > 0 {
			ao.Reports = rep
		}
		api, err := admin.New(ao)
		if err != nil {
			x.Close(context.Background())
			return nil, err
		}
		x.api = api
		prev := opts.Mount
		opts.Mount = func(mux *http.ServeMux) {
			if prev != nil {
				prev(mux)
			}
			api.Mount(mux)
			web.MountAdmin(mux)
		}
		log.Info("admin API on", "path", admin.Prefix, "page", "/admin", "tokens", tokens != nil)
	}
	return x, nil
}

// Attach tells Ops which server reports the node's connections and holds
// its quality reports.
func (x *Ops) Attach(s *server.Server) {
	x.srv.Store(s)
	x.rec.tracker.Store(s.Quality())
}

// Close ends the holds of the backend Setup made (nothing can resume on a
// stopped server) and delivers what webhooks have queued until ctx ends.
func (x *Ops) Close(ctx context.Context) {
	if x.local != nil {
		x.local.Close() // ends the holds: nothing can resume on a stopped server
	}
	if x.push != nil {
		x.push.Close(ctx)
	}
	if x.webhooks != nil {
		x.webhooks.Close(ctx)
	}
}
