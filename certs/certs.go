// Package certs gives the server its TLS certificate: from files (read again
// when they change, as cert-manager and certbot replace them), self-signed
// for this machine's names and addresses (kept in the data directory, for
// trying duet on a phone on the LAN), or from an ACME CA such as Let's
// Encrypt (golang.org/x/crypto/acme/autocert: TLS-ALPN-01 on the TLS port,
// HTTP-01 on the plain-HTTP port).
package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/duet-rtc/duet/config"
)

// ErrNoCertificate is returned by New when the configuration names a
// certificate source that cannot give one (unreadable files, an unwritable
// data directory).
var ErrNoCertificate = errors.New("certs: no certificate")

// Options are the collaborators of New. Zero values get defaults.
type Options struct {
	Logger *slog.Logger
	// Getenv reads STATE_DIRECTORY (systemd) for the default data
	// directory; nil: no environment.
	Getenv func(string) string
	// Now is the clock for certificate lifetimes; nil: time.Now.
	Now func() time.Time
	// Hosts lists this machine's names and addresses for the self-signed
	// certificate; nil: LocalHosts.
	Hosts func() Hosts
}

// Source is the configured certificate source.
type Source struct {
	Mode config.TLSMode
	// TLS is the server's TLS configuration; nil when Mode is off.
	TLS *tls.Config
	// HSTS is the Strict-Transport-Security value for HTTPS responses,
	// empty for none.
	HSTS string
	// SelfSigned is the generated certificate when Mode is self-signed.
	SelfSigned *SelfSigned
	// DataDir is the directory state is kept in ("" when Mode needs none).
	DataDir string

	acme *acmeSource
	log  *slog.Logger
}

// New builds the certificate source cfg asks for. With TLS off it returns a
// Source whose TLS is nil.
func New(cfg config.Config, opts Options) (*Source, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Hosts == nil {
		opts.Hosts = LocalHosts
	}
	s := &Source{Mode: cfg.TLSMode(), log: opts.Logger}
	if age := cfg.HSTSMaxAge(); age > 0 && s.Mode != config.TLSOff {
		s.HSTS = "max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
	}
	var err error
	switch s.Mode {
	case config.TLSOff:
		return s, nil // no session tickets either
	case config.TLSFiles:
		var fc *fileCert
		if fc, err = loadFileCert(cfg.TLSCert, cfg.TLSKey, opts.Logger); err == nil {
			s.TLS = serverTLS(fc.GetCertificate)
		}
	case config.TLSSelfSigned:
		if s.DataDir, err = DataDir(cfg.DataDir, opts.Getenv); err == nil {
			s.SelfSigned, err = LoadSelfSigned(s.DataDir, opts.Hosts(), opts.Now, opts.Logger)
		}
		if err == nil {
			s.TLS = serverTLS(s.SelfSigned.GetCertificate)
		}
	case config.TLSACME:
		if s.DataDir, err = DataDir(cfg.DataDir, opts.Getenv); err == nil {
			s.acme, err = newACME(cfg, s.DataDir, opts.Logger)
		}
		if err == nil {
			s.TLS = s.acme.tlsConfig()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w (%s): %w", ErrNoCertificate, s.Mode, err)
	}
	if err := s.sessionTickets(cfg, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// sessionTickets gives s.TLS session ticket keys derived from the
// configured secret, or from one kept in the data directory. Without
// either (no file configured, no data directory to be had) crypto/tls's
// own keys are used: random per process, so that no session outlives a
// restart.
func (s *Source) sessionTickets(cfg config.Config, opts Options) error {
	rotation := cfg.TLSTicketRotation
	if rotation <= 0 {
		rotation = 24 * time.Hour
	}
	dataDir := func() (string, error) {
		if s.DataDir != "" {
			return s.DataDir, nil
		}
		return DataDir(cfg.DataDir, opts.Getenv)
	}
	t, err := newTickets(cfg.TLSTicketSecretFile, rotation, dataDir, opts.Now, opts.Logger)
	switch {
	case err != nil && cfg.TLSTicketSecretFile != "":
		return err
	case err != nil:
		opts.Logger.Warn("no data directory for the TLS session ticket secret: sessions resume only until this process ends", "err", err)
		return nil
	}
	t.install(s.TLS)
	return nil
}

// FromFiles is the TLS configuration for a certificate and key in PEM
// files, read again when either file changes. A nil log discards.
func FromFiles(certFile, keyFile string, log *slog.Logger) (*tls.Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fc, err := loadFileCert(certFile, keyFile, log)
	if err != nil {
		return nil, err
	}
	return serverTLS(fc.GetCertificate), nil
}

// HTTPHandler is the handler of the plain-HTTP listener: it answers ACME
// HTTP-01 challenges when certificates come from ACME, and passes every
// other request to next.
func (s *Source) HTTPHandler(next http.Handler) http.Handler {
	if s.acme != nil {
		return s.acme.httpHandler(next)
	}
	return next
}

// Prefetch asks for the certificate of every ACME domain now rather than at
// the first connection, so that a CA that cannot reach this server shows up
// in the log at start. It returns when every domain has a certificate or
// failed; it does nothing for other sources.
func (s *Source) Prefetch() {
	if s.acme != nil {
		s.acme.prefetch()
	}
}

// serverTLS is the TLS configuration every source shares. HTTP/1.1 only:
// duet's WebSocket upgrade is RFC 6455 over HTTP/1.1, and a browser that
// found h2 would try RFC 8441 WebSockets once Go's server offers them.
func serverTLS(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: get,
	}
}

// hostOnly is the address part of a host:port, or s itself.
func hostOnly(s string) string {
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}
