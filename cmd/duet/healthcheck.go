package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/cli"
)

// healthcheck asks a running server's /healthz and exits 0 when it answers
// 200. It reads the same configuration as serve (flags, DUET_* variables,
// --config), so that it finds the server where serve put it: the container
// image's HEALTHCHECK runs it with no arguments. Distroless images have no
// curl or wget.
func healthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("duet healthcheck", flag.ContinueOnError)
	url := fs.String("url", "", "URL to ask (default: /healthz of the server the configuration describes)")
	timeout := fs.Duration("timeout", 3*time.Second, "time to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: duet healthcheck [--url URL] [serve's flags]\n\nExits 0 when the server answers /healthz; it reads serve's settings to find it.\n\nflags:")
		cli.PrintFlags(fs.Output(), fs)
	}
	cfg, code, ok := loadConfig(fs, "duet healthcheck", args, stdout, stderr, getenv)
	if !ok {
		return code
	}
	target, serverName := *url, ""
	if target == "" {
		target, serverName = healthURL(cfg)
	}
	// This checks that our own process answers, not who it is: the
	// certificate names a public host (or is self-signed), not 127.0.0.1.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: serverName}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: *timeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "duet healthcheck: %v\n", err)
		return 2
	}
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "duet healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "duet healthcheck: %s: %s %s\n", target, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, strings.TrimSpace(string(body)))
	return 0
}

// healthURL is where the server cfg describes answers /healthz: the plain
// HTTP listener when there is one, else the main one, on loopback when it
// listens on every address. serverName is the TLS server name to send
// (ACME certificates are chosen by it).
func healthURL(cfg config.Config) (url, serverName string) {
	scheme, addr := "http", cfg.Listen
	if cfg.HTTPListen != "" {
		addr = cfg.HTTPListen
	} else if cfg.TLSMode() != config.TLSOff {
		scheme = "https"
		if len(cfg.TLSACMEDomains) > 0 {
			serverName = cfg.TLSACMEDomains[0]
		}
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz", serverName
}
