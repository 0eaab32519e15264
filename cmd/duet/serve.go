package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/cli"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/web"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("duet serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: duet serve [flags]\n\nEvery flag can also be set as a YAML key in --config or as a DUET_* variable.\nPrecedence: defaults < config file < environment < flags.\n\nflags:")
		cli.PrintFlags(fs.Output(), fs)
	}
	cfg, code, ok := loadConfig(fs, "duet serve", args, stdout, stderr, getenv)
	if !ok {
		return code
	}
	log := newLogger(cfg, stderr)
	opts := server.Options{Logger: log, Mount: web.Mount}
	stopCluster, err := withCluster(ctx, cfg, log, &opts)
	if errors.Is(err, cluster.ErrReplicasUnsupported) {
		fmt.Fprintf(stderr, "duet serve: invalid configuration:\n  nats_kv_replicas: %d needs a NATS cluster of %d servers, but the NATS server at nats_url is not clustered; write 1, or cluster NATS\n  (%v)\n",
			cfg.NATSKVReplicas, cfg.NATSKVReplicas, err)
		return 2
	}
	if err != nil {
		log.Error("cluster backend failed to start", "err", err)
		return 1
	}
	defer stopCluster()
	authz, err := auth.FromConfig(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "duet: room tokens: %v\n", err)
		return 2
	}
	if authz != nil {
		opts.Authorizer = authz
		log.Info("room tokens required", "algorithms", authz.Algorithms())
	}
	operators, flushOps, err := withOps(ctx, cfg, log, authz, &opts)
	if err != nil {
		fmt.Fprintf(stderr, "duet: %v\n", err)
		return 2
	}
	defer flushOps()
	certSrc, err := withTLS(cfg, log, getenv, &opts)
	if err != nil {
		fmt.Fprintf(stderr, "duet: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("listen failed", "addr", cfg.Listen, "err", err)
		return 1
	}
	stopTURN, err := withConnectivity(cfg, log, getenv, certSrc, ln, &opts)
	if err != nil {
		ln.Close()
		log.Error("TURN setup failed", "err", err)
		return 1
	}
	// Stopped after the drain: calls relayed here keep their media while
	// their clients move to another node.
	defer stopTURN()
	srv, err := server.New(cfg, opts)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "duet: %v\n", err)
		return 2
	}
	operators.Attach(srv)
	if cfg.HTTPListen != "" {
		stopHTTP, err := serveRedirect(cfg, srv, certSrc, ln.Addr().String(), log)
		if err != nil {
			ln.Close()
			log.Error("listen failed", "addr", cfg.HTTPListen, "err", err)
			return 1
		}
		defer stopHTTP()
	}
	if cfg.DebugListen != "" {
		stopDebug, err := serveDebug(cfg.DebugListen, log)
		if err != nil {
			log.Error("debug listen failed", "addr", cfg.DebugListen, "err", err)
			return 1
		}
		defer stopDebug()
	}
	scheme := "ws"
	if opts.TLS != nil {
		scheme = "wss"
	}
	// What to open comes before the log line that says duet listens, so
	// that whoever waits for that line has it.
	switch {
	case certSrc.SelfSigned != nil:
		announceSelfSigned(stdout, log, certSrc.SelfSigned, ln.Addr())
	case opts.TLS == nil:
		announcePlain(stdout, ln.Addr())
	}
	log.Info("duet listening", "version", readBuildInfo().Version, "addr", ln.Addr().String(), "tls", certSrc.Mode,
		"websocket", fmt.Sprintf("%s://%s/{app}/websocket", scheme, ln.Addr()))
	// Certificates come at the first handshake anyway; asking now shows a
	// CA that cannot reach us in the log at start. autocert bounds each
	// request to five minutes; the process may end before.
	go certSrc.Prefetch()
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serveDebug serves Go's pprof profiles on their own address, apart from
// the public listener.
func serveDebug(addr string, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { hs.Close() }, nil
}

// loadConfig is config.Load for a command (serve, healthcheck) with its
// outcome reported: the help on stdout, a command-line mistake with a
// pointer to the help, every invalid setting on a line of its own. ok is
// false when the command should exit with code.
func loadConfig(fs *flag.FlagSet, name string, args []string, stdout, stderr io.Writer, getenv func(string) string) (config.Config, int, bool) {
	fs.SetOutput(io.Discard)
	cfg, err := config.Load(fs, args, getenv)
	switch {
	case err == nil:
		return cfg, 0, true
	case errors.Is(err, flag.ErrHelp):
		return cfg, cli.Help(fs, stdout), false
	case cli.IsUsage(err):
		return cfg, cli.Fail(stderr, name, err), false
	}
	fmt.Fprintf(stderr, "%s: invalid configuration:\n", name)
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "  %s\n", line)
	}
	return cfg, 2, false
}

// parseFlags parses a command's flags, which take no positional argument:
// --help prints the usage on stdout, a mistake is reported with a pointer
// to it. ok is false when the command should exit with code.
func parseFlags(fs *flag.FlagSet, name string, args []string, stdout, stderr io.Writer) (int, bool) {
	fs.SetOutput(io.Discard)
	pos, err := cli.Parse(fs, args)
	if err == nil {
		err = cli.NoArgs(fs, args, pos)
	}
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return cli.Help(fs, stdout), false
	}
	return cli.Fail(stderr, name, err), false
}
