package ice

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestSecretFileSurvivesARestart: the first start creates the secret,
// readable by its owner only; the next start (and any other process
// given the file) gets the same one.
func TestSecretFileSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), SecretFileName)
	first, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < 40 {
		t.Fatalf("secret of %d bytes", len(first))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreateSecret(path)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("second start: %q %v, want %q", again, err, first)
	}
	read, err := ReadSecret(path)
	if err != nil || !bytes.Equal(read, first) {
		t.Fatalf("ReadSecret: %q %v", read, err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".turn_secret-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestSecretFileWrittenByHand: a line an operator wrote (with a newline,
// blanks) is the secret; an empty or missing file is ErrNoSecret.
func TestSecretFileWrittenByHand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	os.WriteFile(path, []byte("  same-as-the-other-nodes \nignored\n"), 0o600)
	if s, err := LoadOrCreateSecret(path); err != nil || string(s) != "same-as-the-other-nodes" {
		t.Fatalf("%q %v", s, err)
	}
	os.WriteFile(path, []byte("\n"), 0o600)
	if _, err := ReadSecret(path); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := LoadOrCreateSecret(path); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("empty file is not replaced: %v", err)
	}
	if _, err := ReadSecret(filepath.Join(dir, "none")); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestSecretFileRace: processes starting at once (duet serve and duet
// turn on one data directory) all end up with one secret.
func TestSecretFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), SecretFileName)
	const n = 8
	got := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := LoadOrCreateSecret(path)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("start %d got %q, start 0 %q", i, got[i], got[0])
		}
	}
}
