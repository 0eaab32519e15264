package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/turnserver"
)

// secretPath is the file that keeps the TURN secret: turn_secret_file, or
// turn_secret in the data directory.
func secretPath(cfg config.Config, getenv func(string) string) (string, error) {
	if cfg.TurnSecretFile != "" {
		return cfg.TurnSecretFile, nil
	}
	dir, err := certs.DataDir(cfg.DataDir, getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, ice.SecretFileName), nil
}

// turnSecret is the secret TURN credentials are minted from and checked
// with: turn_secret when set, else the one kept in secretPath, which a
// process that runs a TURN server (create) makes on its first start. A
// restarted duet thus accepts the credentials its clients hold, and every
// process given the file (or its line as turn_secret) shares them.
func turnSecret(cfg config.Config, getenv func(string) string, create bool, log *slog.Logger) ([]byte, error) {
	if cfg.TurnSecret != "" {
		return []byte(cfg.TurnSecret), nil
	}
	path, err := secretPath(cfg, getenv)
	if err != nil {
		return nil, err
	}
	certs.WarnIfShared(path, log)
	var secret []byte
	if create {
		secret, err = ice.LoadOrCreateSecret(path)
	} else {
		secret, err = ice.ReadSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("turn_secret_file: %w", err)
	}
	if len(secret) < config.MinTurnSecret {
		return nil, fmt.Errorf("turn_secret_file %s: the secret must be at least %d bytes, got %d", path, config.MinTurnSecret, len(secret))
	}
	log.Info("TURN secret", "file", path)
	return secret, nil
}

// turnTLS are the TLS settings of the embedded TURN server from cfg and
// the server's certificate (nil: no TURN over TLS). sharedPort is the
// HTTPS port when TURN shares it (0: TURN listens on turn_tls_listen).
type turnTLS struct {
	cfg        *tls.Config
	sharedPort int
}

// startTURN runs the embedded TURN server cfg describes with secret.
func startTURN(cfg config.Config, secret []byte, tt turnTLS, reg prometheus.Registerer, log *slog.Logger) (*turnserver.Server, error) {
	o := turnserver.OptionsFromConfig(cfg, secret, reg, log)
	o.Host = cfg.TurnHost
	if tt.cfg != nil && cfg.TurnTLSListen != "" {
		if tt.cfg.GetCertificate == nil && len(tt.cfg.Certificates) == 0 {
			return nil, errors.New("turn_tls_listen: no certificate")
		}
		o.TLS = tt.cfg
		if tt.sharedPort != 0 {
			o.TLSPort = tt.sharedPort
		} else {
			o.TLSListen = cfg.TurnTLSListen
		}
		o.TLSHost = cfg.TurnHost
		if o.TLSHost == "" && len(cfg.TLSACMEDomains) > 0 {
			// ACME certificates are chosen by name (SNI): a turns: URI
			// with an IP address would get none.
			o.TLSHost = cfg.TLSACMEDomains[0]
		}
	}
	return turnserver.Start(o)
}
