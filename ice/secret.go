package ice

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretFileName is the TURN secret's file in the data directory.
const SecretFileName = "turn_secret"

// ErrNoSecret is returned by ReadSecret for a missing or empty file.
var ErrNoSecret = errors.New("ice: no TURN secret in the file")

// LoadOrCreateSecret returns the TURN secret kept in path, creating the
// file with a new random secret (mode 0600) when there is none. The file
// holds the secret as one line of text, and the secret is that text's
// bytes, so the line works as turn_secret on a machine that cannot share
// the file. Two processes that start together get the same secret: the
// file appears whole or not at all (a link of a finished temporary file).
func LoadOrCreateSecret(path string) ([]byte, error) {
	s, err := ReadSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	var raw [32]byte
	rand.Read(raw[:])
	line := base64.RawURLEncoding.EncodeToString(raw[:]) + "\n"
	tmp, err := os.CreateTemp(filepath.Dir(path), ".turn_secret-*")
	if err != nil {
		return nil, fmt.Errorf("ice: TURN secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(line)
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return nil, fmt.Errorf("ice: TURN secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("ice: TURN secret: %w", err)
	}
	// Whoever linked first won; everyone reads what is there now.
	return ReadSecret(path)
}

// ReadSecret reads a TURN secret file written by LoadOrCreateSecret or by
// hand: its first line, without surrounding white space.
func ReadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %s: %w", ErrNoSecret, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("ice: TURN secret: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if line = bytes.TrimSpace(line); len(line) == 0 {
		return nil, fmt.Errorf("%w %s: it is empty", ErrNoSecret, path)
	}
	return line, nil
}
