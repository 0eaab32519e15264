package deploy

import (
	"context"
	"flag"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/duet-rtc/duet/config"
)

// loadCompose loads compose.yaml as `docker compose` does (compose-go, the
// compose specification's loader: schema, interpolation, merges), with env
// as the shell's environment.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadComposeFiles(t, []string{"compose.yaml"}, env...)
}

// loadComposeFiles is loadCompose of several files, each overriding the
// ones before (docker compose -f a -f b).
func loadComposeFiles(t *testing.T, files []string, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(files, cli.WithWorkingDirectory("."), cli.WithEnv(env),
		cli.WithInterpolation(true), cli.WithNormalization(true), cli.WithResolvedPaths(true), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// TestCompose: three duet nodes built from this repository's Dockerfile,
// each with a configuration duet accepts, clustered on the three NATS
// servers the file runs (their command lines parsed by nats-server itself:
// one cluster, JetStream on a volume, routes to the two others), behind
// Caddy whose Caddyfile proxies to those nodes and checks their readiness.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	var duets, natses []string
	for name, s := range p.Services {
		switch {
		case strings.HasPrefix(name, "duet"):
			duets = append(duets, name)
		case strings.HasPrefix(name, "nats"):
			natses = append(natses, name)
		}
		_ = s
	}
	slices.Sort(duets)
	slices.Sort(natses)
	if !slices.Equal(duets, []string{"duet1", "duet2", "duet3"}) || !slices.Equal(natses, []string{"nats1", "nats2", "nats3"}) {
		t.Fatalf("duet services %v, nats services %v: want three of each", duets, natses)
	}
	caddyIP := p.Services["caddy"].Networks["duet"].Ipv4Address

	nodeIDs := map[string]bool{}
	for _, name := range duets {
		s := p.Services[name]
		if s.Build == nil || s.Build.Context != root || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: build %+v, want the repository's Dockerfile", name, s.Build)
		}
		if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
			t.Fatal(err)
		}
		cfg := duetConfig(t, name, s.Command, s.Environment)
		if nodeIDs[cfg.NodeID] || cfg.NodeID != name {
			t.Errorf("%s: node_id %q (must be unique)", name, cfg.NodeID)
		}
		nodeIDs[cfg.NodeID] = true
		var hosts []string
		for _, u := range strings.Split(cfg.NATSURL, ",") {
			pu, err := url.Parse(u)
			if err != nil || pu.Port() != "4222" {
				t.Errorf("%s: nats_url entry %q", name, u)
				continue
			}
			hosts = append(hosts, pu.Hostname())
		}
		if !slices.Equal(hosts, natses) || cfg.NATSKVReplicas != len(natses) {
			t.Errorf("%s: NATS servers %v with %d replicas, want %v and %d", name, hosts, cfg.NATSKVReplicas, natses, len(natses))
		}
		if !slices.Contains(cfg.TrustedProxies, caddyIP) {
			t.Errorf("%s: trusted_proxies %v does not name Caddy (%s)", name, cfg.TrustedProxies, caddyIP)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) < cfg.DrainTimeout+5*time.Second {
			t.Errorf("%s: stop_grace_period %v, want at least drain_timeout (%s) + 5s", name, s.StopGracePeriod, cfg.DrainTimeout)
		}
		if s.HealthCheck == nil || !slices.Equal([]string(s.HealthCheck.Test), []string{"CMD", "/usr/local/bin/duet", "healthcheck"}) {
			t.Errorf("%s: healthcheck %+v", name, s.HealthCheck)
		}
		for _, n := range natses {
			if s.DependsOn[n].Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: does not wait for %s to be healthy", name, n)
			}
		}
	}

	cluster := ""
	for _, name := range natses {
		s := p.Services[name]
		fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		opts, err := natsserver.ConfigureOptions(fs, s.Command, func() {}, func() {}, func() {})
		if err != nil {
			t.Fatalf("%s: nats-server refuses its command line: %v", name, err)
		}
		if opts.ServerName != name || !opts.JetStream || opts.Cluster.Port != 6222 || opts.HTTPPort != 8222 {
			t.Errorf("%s: name %q JetStream %v cluster port %d http %d", name, opts.ServerName, opts.JetStream, opts.Cluster.Port, opts.HTTPPort)
		}
		if cluster == "" {
			cluster = opts.Cluster.Name
		}
		if opts.Cluster.Name != cluster || cluster == "" {
			t.Errorf("%s: cluster name %q, want one name for all", name, opts.Cluster.Name)
		}
		var routes []string
		for _, r := range opts.Routes {
			if r.Port() != "6222" {
				t.Errorf("%s: route %s", name, r)
			}
			routes = append(routes, r.Hostname())
		}
		others := slices.DeleteFunc(slices.Clone(natses), func(n string) bool { return n == name })
		if slices.Sort(routes); !slices.Equal(routes, others) {
			t.Errorf("%s: routes to %v, want %v", name, routes, others)
		}
		if !mounts(s, opts.StoreDir) {
			t.Errorf("%s: JetStream store %s is not on a volume", name, opts.StoreDir)
		}
		if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), ":8222/healthz?js-enabled-only=true") {
			t.Errorf("%s: healthcheck %+v", name, s.HealthCheck)
		}
	}

	caddy := p.Services["caddy"]
	var caddyfile string
	for _, v := range caddy.Volumes {
		if v.Target == "/etc/caddy/Caddyfile" {
			caddyfile = v.Source
		}
	}
	b, err := os.ReadFile(caddyfile)
	if err != nil {
		t.Fatalf("Caddy's Caddyfile %q: %v", caddyfile, err)
	}
	checkCaddyfile(t, string(b), duets)
	published := map[uint32]bool{}
	for _, port := range caddy.Ports {
		published[port.Target] = true
	}
	if !published[80] || !published[443] {
		t.Errorf("caddy publishes %v, want 80 and 443", caddy.Ports)
	}
	if got := caddy.Environment["DUET_SITE"]; got == nil || *got != "localhost" {
		t.Errorf("DUET_SITE defaults to %v, want localhost", got)
	}
	if got := loadCompose(t, "DUET_SITE=call.example.com").Services["caddy"].Environment["DUET_SITE"]; *got != "call.example.com" {
		t.Errorf("DUET_SITE from the shell: %s", *got)
	}
	if _, n, err := net.ParseCIDR(p.Networks["duet"].Ipam.Config[0].Subnet); err != nil || !n.Contains(net.ParseIP(caddyIP)) {
		t.Errorf("Caddy's address %s is not in the network's subnet", caddyIP)
	}
}

// duetConfig loads a compose service's duet configuration as the image
// would: its command after the entrypoint (serve by default), its
// environment as DUET_* variables.
func duetConfig(t *testing.T, name string, command types.ShellCommand, env types.MappingWithEquals) config.Config {
	t.Helper()
	args := []string(command)
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
	case "turn":
		args = append([]string{"turn", "--turn-enabled"}, args[1:]...) // as duet turn loads it
	default:
		t.Fatalf("%s: command %v does not serve", name, args)
	}
	vars := map[string]string{"DUET_DATA_DIR": "/data"} // the image's ENV
	for k, v := range env {
		if !strings.HasPrefix(k, "DUET_") {
			continue
		}
		if v == nil {
			t.Fatalf("%s: %s has no value", name, k)
		}
		vars[k] = *v
	}
	return loadDuetConfig(t, name, args[1:], vars)
}

// loadDuetConfig loads a configuration the way duet serve does, and fails
// the test on any DUET_* variable that names no setting (a typo duet would
// silently ignore).
func loadDuetConfig(t *testing.T, where string, args []string, vars map[string]string) config.Config {
	t.Helper()
	known := map[string]bool{"DUET_CONFIG": true}
	for _, s := range config.Describe() {
		known[s.Env] = true
	}
	for k := range vars {
		if !known[k] {
			t.Errorf("%s: %s is no duet setting", where, k)
		}
	}
	fs := flag.NewFlagSet("duet serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, err := config.Load(fs, args, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("%s: duet refuses its configuration: %v", where, err)
	}
	return cfg
}

func mounts(s types.ServiceConfig, dir string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == dir {
			return true
		}
	}
	return false
}

// checkCaddyfile: the site proxies to exactly the duet services on their
// port, skips nodes whose /readyz is not 200, and balances by connections.
func checkCaddyfile(t *testing.T, text string, duets []string) {
	t.Helper()
	proxy := regexp.MustCompile(`(?m)^\s*reverse_proxy\s+([^{\n]+)\{`).FindStringSubmatch(text)
	if proxy == nil {
		t.Fatalf("Caddyfile has no reverse_proxy block:\n%s", text)
	}
	var upstreams []string
	for _, u := range strings.Fields(proxy[1]) {
		host, port, err := net.SplitHostPort(u)
		if err != nil || port != "5080" {
			t.Errorf("upstream %q is not a duet node on 5080", u)
		}
		upstreams = append(upstreams, host)
	}
	if !slices.Equal(upstreams, duets) {
		t.Errorf("Caddy proxies to %v, compose runs %v", upstreams, duets)
	}
	for _, line := range []string{"health_uri /readyz", "lb_policy least_conn", "{$DUET_SITE:localhost} {"} {
		if !strings.Contains(text, line) {
			t.Errorf("Caddyfile lacks %q", line)
		}
	}
}
