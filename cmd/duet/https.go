package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/server"
)

// withTLS gets the certificate source cfg asks for (files, self-signed,
// ACME) and sets the server's TLS configuration and HSTS header in opts.
func withTLS(cfg config.Config, log *slog.Logger, getenv func(string) string, opts *server.Options) (*certs.Source, error) {
	src, err := certs.New(cfg, certs.Options{Logger: log, Getenv: getenv})
	if err != nil {
		return nil, err
	}
	opts.TLS, opts.HSTS = src.TLS, src.HSTS
	if src.Mode == config.TLSACME {
		if _, port, _ := net.SplitHostPort(cfg.Listen); port != "443" && !strings.HasSuffix(cfg.HTTPListen, ":80") {
			log.Warn("ACME CAs connect to port 443 (TLS-ALPN-01) or 80 (HTTP-01): forward one of them to this server, or listen there",
				"listen", cfg.Listen, "http_listen", cfg.HTTPListen)
		}
	}
	return src, nil
}

// serveRedirect runs the plain-HTTP listener of http_listen: ACME HTTP-01
// challenges, health, and a redirect to https:// on httpsAddr's port. The
// returned function stops it.
func serveRedirect(cfg config.Config, srv *server.Server, src *certs.Source, httpsAddr string, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{
		Handler:           src.HTTPHandler(srv.RedirectHandler(httpsAddr)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln)
	}()
	log.Info("redirecting HTTP to HTTPS", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-done
	}, nil
}

// announceSelfSigned tells the person who started duet which URL to open on
// this machine and on another device (a phone on the same network), with the
// certificate's fingerprint to compare with what the browser shows. All
// URLs carry the same new room, so opening one here and one there is a call.
func announceSelfSigned(w io.Writer, log *slog.Logger, s *certs.SelfSigned, addr net.Addr) {
	var names []string
	for _, n := range s.Hosts().Names {
		if strings.HasSuffix(n, ".local") {
			names = append(names, n)
		}
	}
	local, lan, ok := openURLs("https", addr, names)
	if !ok {
		return
	}
	fp := s.Fingerprint()
	log.Info("self-signed certificate", "fingerprint_sha256", fp, "open_here", local, "open_on_another_device", lan)
	fmt.Fprintf(w, "\nduet serves HTTPS with a self-signed certificate (kept in %s)\n", s.Dir())
	fmt.Fprintf(w, "  SHA-256 fingerprint: %s\n\n", fp)
	fmt.Fprintf(w, "  open on this machine:    %s\n", local)
	for i, u := range lan {
		label := ""
		if i == 0 {
			label = "open on another device:"
		}
		fmt.Fprintf(w, "  %-24s %s\n", label, u)
	}
	if len(lan) == 0 {
		fmt.Fprintf(w, "  (listening on loopback only: use --listen :%s to reach it from another device)\n", portOf(addr))
	} else {
		printQR(w, lan[0])
	}
	fmt.Fprintf(w, "\n  Browsers warn once about a certificate they do not know: check the fingerprint, then accept it.\n\n")
}
