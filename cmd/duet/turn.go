package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/cli"
	"github.com/duet-rtc/duet/turnserver"
)

// turnMain runs the embedded TURN server alone, for relays that a
// signaling restart or deploy never touches: the same configuration as
// serve (turn_enabled implied), with listen serving only /healthz, /readyz
// and /metrics. On SIGTERM it turns /readyz to 503 and keeps relaying until
// its allocations are gone or drain_timeout passes.
func turnMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("duet turn", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: duet turn [flags]\n\nRuns only the embedded TURN/STUN server (the turn_* settings; turn_enabled is implied),\n"+
			"with /healthz, /readyz and /metrics on listen. Signaling nodes advertise it with turn_uris and\n"+
			"mint its credentials from the same turn_secret or turn_secret_file.\n\nflags:")
		cli.PrintFlags(fs.Output(), fs)
	}
	// "=true", so that a stray word after it is not reported as its value.
	cfg, code, ok := loadConfig(fs, "duet turn", append([]string{"--turn-enabled=true"}, args...), stdout, stderr, getenv)
	if !ok {
		return code
	}
	if !cfg.TurnEnabled {
		// Only a --turn-enabled=false after the implied one gets here.
		fmt.Fprintln(stderr, "duet turn: invalid configuration:\n  turn_enabled: false leaves duet turn nothing to run; drop --turn-enabled=false (to run signaling without TURN, use duet serve)")
		return 2
	}
	if cfg.TURNTLSShared() {
		fmt.Fprintf(stderr, "duet turn: invalid configuration:\n  turn_tls_listen: %q is listen too, which serves health and metrics in duet turn; write another port, e.g. :5349\n", cfg.TurnTLSListen)
		return 2
	}
	log := newLogger(cfg, stderr)
	src, err := certs.New(cfg, certs.Options{Logger: log, Getenv: getenv})
	if err != nil {
		fmt.Fprintf(stderr, "duet: %v\n", err)
		return 1
	}
	secret, err := turnSecret(cfg, getenv, true, log)
	if err != nil {
		fmt.Fprintf(stderr, "duet: %v\n", err)
		return 1
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ts, err := startTURN(cfg, secret, turnTLS{cfg: src.TLS}, reg, log)
	if err != nil {
		log.Error("embedded TURN server failed to start", "err", err)
		return 1
	}
	defer ts.Close()
	hs, err := serveTURNHealth(cfg, src, reg, ts, log)
	if err != nil {
		log.Error("listen failed", "addr", cfg.Listen, "err", err)
		return 1
	}
	defer hs.stop()
	stun, uris := ts.URIs()
	log.Info("duet turn running", "version", readBuildInfo().Version, "addr", hs.addr, "uris", append(stun, uris...))
	go src.Prefetch()
	<-ctx.Done()
	hs.draining.Store(true)
	log.Info("draining TURN", "allocations", ts.Allocations(), "timeout", cfg.DrainTimeout)
	deadline := time.After(cfg.DrainTimeout)
	tick := time.NewTicker(100 * time.Millisecond) // allocations end without telling
	defer tick.Stop()
	for ts.Allocations() > 0 {
		select {
		case <-deadline:
		case <-tick.C:
			continue
		}
		break
	}
	log.Info("stopped", "allocations_left", ts.Allocations())
	return 0
}

// turnHealth is duet turn's HTTP(S) listener and, with http_listen, its
// plain-HTTP one (ACME HTTP-01 challenges and health).
type turnHealth struct {
	addr     string
	draining atomic.Bool
	servers  []*http.Server
}

func serveTURNHealth(cfg config.Config, src *certs.Source, reg *prometheus.Registry, ts *turnserver.Server, log *slog.Logger) (*turnHealth, error) {
	h := &turnHealth{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if h.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ready (%d allocations)\n", ts.Allocations())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	h.addr = ln.Addr().String()
	listeners := []net.Listener{ln}
	handlers := []http.Handler{mux}
	if src.TLS != nil {
		listeners[0] = tls.NewListener(ln, src.TLS)
	}
	if cfg.HTTPListen != "" {
		pl, err := net.Listen("tcp", cfg.HTTPListen)
		if err != nil {
			ln.Close()
			return nil, err
		}
		listeners = append(listeners, pl)
		handlers = append(handlers, src.HTTPHandler(mux))
	}
	for i, l := range listeners {
		hs := &http.Server{Handler: handlers[i], ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second,
			MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
		h.servers = append(h.servers, hs)
		go hs.Serve(l)
	}
	return h, nil
}

func (h *turnHealth) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range h.servers {
		hs.Shutdown(ctx)
	}
}
