package certs

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ticketLifetime is how long a session ticket resumes a session: crypto/tls
// accepts none older than 7 days whatever its key, so keys are kept that
// long after they stop issuing tickets.
const ticketLifetime = 7 * 24 * time.Hour

// ticketSecretFile is the secret kept in the data directory when none is
// configured.
const ticketSecretFile = "session-ticket.secret"

// tickets derives the session ticket keys from a secret: one key per
// rotation period, the current one issuing tickets, those of the last 7
// days still accepting them. Every node given the same secret derives the
// same keys at the same time, so a client resumes its session on whichever
// node it reaches, and a restarted node resumes the sessions it issued
// before: a reconnect storm after a restart costs resumed handshakes, not
// full ones.
type tickets struct {
	secret   []byte
	rotation time.Duration
	now      func() time.Time
	base     *tls.Config // the server's configuration, without GetConfigForClient

	mu     sync.Mutex
	period int64
	cur    *tls.Config // base with the keys of period
}

// newTickets reads the ticket secret: the configured file, or the one kept
// in the data directory (made at the first start). dataDir is called only
// when no file is configured.
func newTickets(file string, rotation time.Duration, dataDir func() (string, error), now func() time.Time, log *slog.Logger) (*tickets, error) {
	var secret []byte
	var err error
	if file != "" {
		secret, err = os.ReadFile(file)
		if err == nil && len(secret) < 16 {
			err = fmt.Errorf("%s holds %d bytes; 16 or more are needed (e.g. head -c 32 /dev/urandom | base64 > %s)", file, len(secret), file)
		}
		if err != nil {
			return nil, fmt.Errorf("tls_ticket_secret_file: %w", err)
		}
	} else {
		dir, err := dataDir()
		if err != nil {
			return nil, err
		}
		if secret, err = loadOrMakeSecret(filepath.Join(dir, selfSignedDir, ticketSecretFile)); err != nil {
			return nil, err
		}
		file = filepath.Join(dir, selfSignedDir, ticketSecretFile)
	}
	log.Debug("TLS session ticket keys", "secret", file, "rotation", rotation)
	return &tickets{secret: secret, rotation: rotation, now: now}, nil
}

func loadOrMakeSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 16 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	b = make([]byte, 32)
	rand.Read(b)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	return b, os.Rename(tmp, path)
}

// install makes cfg hand out the current keys: each handshake gets cfg
// with the keys of its rotation period.
func (t *tickets) install(cfg *tls.Config) {
	t.base = cfg.Clone()
	t.base.GetConfigForClient = nil
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return t.config(), nil }
}

// config is the server configuration with the keys of the current period.
func (t *tickets) config() *tls.Config {
	p := t.now().UnixNano() / int64(t.rotation)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil || p != t.period {
		c := t.base.Clone()
		c.SetSessionTicketKeys(t.keys(p))
		t.cur, t.period = c, p
	}
	return t.cur
}

// keys are those of period p and of the periods before it whose tickets
// may still be presented.
func (t *tickets) keys(p int64) [][32]byte {
	n := 1 + int((ticketLifetime+t.rotation-1)/t.rotation)
	keys := make([][32]byte, n)
	for i := range keys {
		keys[i] = t.key(p - int64(i))
	}
	return keys
}

// key is the ticket key of period p: HKDF-SHA256 of the secret, labelled
// with the period.
func (t *tickets) key(p int64) [32]byte {
	info := binary.BigEndian.AppendUint64([]byte("duet tls session ticket key "), uint64(p))
	b, err := hkdf.Key(sha256.New, t.secret, nil, string(info), 32)
	if err != nil {
		panic("certs: HKDF of 32 bytes failed: " + err.Error())
	}
	return [32]byte(b)
}
