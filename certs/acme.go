package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/duet-rtc/duet/config"
)

// acmeSource gets certificates from an ACME CA with autocert, keeps them
// (and the account key) in the data directory, and renews them in the
// background a third of their lifetime before they end (at most 30 days).
type acmeSource struct {
	m       *autocert.Manager
	domains []string
	dir     string
	log     *slog.Logger

	mu     sync.Mutex
	serial map[string]string // domain → serial of the certificate last served, to log new ones
}

func newACME(cfg config.Config, dataDir string, log *slog.Logger) (*acmeSource, error) {
	u, err := url.Parse(cfg.TLSACMECA)
	if err != nil {
		return nil, err
	}
	// One directory per CA, so that certificates of a staging CA are not
	// served once the production one is configured.
	dir := filepath.Join(dataDir, "acme", strings.NewReplacer(":", "_", "/", "_").Replace(u.Host))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	WarnIfShared(dataDir, log)
	WarnIfShared(dir, log)
	hc := &http.Client{Timeout: 30 * time.Second}
	if cfg.TLSACMECARoot != "" {
		pem, err := os.ReadFile(cfg.TLSACMECARoot)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_acme_ca_root %s: no PEM certificate", cfg.TLSACMECARoot)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	domains := make([]string, len(cfg.TLSACMEDomains))
	for i, d := range cfg.TLSACMEDomains {
		domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	a := &acmeSource{
		m: &autocert.Manager{
			Prompt:     autocert.AcceptTOS, // configuring a CA is accepting its terms; the README says so
			Cache:      autocert.DirCache(dir),
			HostPolicy: autocert.HostWhitelist(domains...),
			Email:      cfg.TLSACMEEmail,
			Client:     &acme.Client{DirectoryURL: cfg.TLSACMECA, HTTPClient: hc, UserAgent: "duet"},
		},
		domains: domains,
		dir:     dir,
		log:     log,
		serial:  make(map[string]string),
	}
	log.Info("ACME certificates", "domains", domains, "ca", cfg.TLSACMECA, "dir", dir)
	return a, nil
}

func (a *acmeSource) tlsConfig() *tls.Config {
	c := serverTLS(a.getCertificate)
	c.NextProtos = append(c.NextProtos, acme.ALPNProto) // TLS-ALPN-01 challenges
	return c
}

// getCertificate is autocert's, with logging: a new certificate is logged
// at its first handshake, a failure for one of our domains as a warning.
func (a *acmeSource) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c, err := a.m.GetCertificate(hello)
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if err != nil {
		level := slog.LevelDebug // scanners ask for every name under the sun
		for _, d := range a.domains {
			if d == name {
				level = slog.LevelWarn
			}
		}
		a.log.Log(hello.Context(), level, "no ACME certificate for a TLS handshake", "server_name", hello.ServerName, "err", err)
		return nil, err
	}
	if isChallenge(hello) {
		a.log.Info("ACME TLS-ALPN-01 challenge", "server_name", name)
		return c, nil
	}
	if c.Leaf != nil {
		serial := c.Leaf.SerialNumber.String()
		a.mu.Lock()
		changed := a.serial[name] != serial
		a.serial[name] = serial
		a.mu.Unlock()
		if changed {
			a.log.Info("ACME certificate in use", "domain", name, "serial", serial,
				"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339), "issuer", c.Leaf.Issuer.CommonName)
		}
	}
	return c, nil
}

func isChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
}

// httpHandler answers HTTP-01 challenges (which also lets autocert choose
// HTTP-01 when TLS-ALPN-01 fails) and hands everything else to next.
func (a *acmeSource) httpHandler(next http.Handler) http.Handler {
	h := a.m.HTTPHandler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			next.ServeHTTP(w, r)
			return
		}
		// autocert checks Host against the domains as it is; a CA sends no
		// port (it always asks on port 80), a test or a proxy may.
		r2 := r.Clone(r.Context())
		r2.Host = hostOnly(r.Host)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r2)
		a.log.Info("ACME HTTP-01 challenge", "host", r.Host, "status", sw.status)
	})
}

// prefetch asks for every domain's certificate.
func (a *acmeSource) prefetch() {
	for _, d := range a.domains {
		if _, err := a.getCertificate(&tls.ClientHelloInfo{ServerName: d, SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}}); err != nil {
			a.log.Error("could not get an ACME certificate; the CA must reach this server on port 443 (TLS-ALPN-01) or on http_listen at port 80 (HTTP-01)",
				"domain", d, "err", err)
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
