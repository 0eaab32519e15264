package certs_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/certs"
)

// TestSharedModesWarned: a data directory at 0755 or a key at 0644 is
// used, with a warning on start naming it (issue #20); private ones give
// none.
func TestSharedModesWarned(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	hosts := certs.Hosts{Names: []string{"localhost"}}
	if _, err := certs.LoadSelfSigned(dir, hosts, time.Now, log); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o700)
	out.Reset()
	if _, err := certs.LoadSelfSigned(dir, hosts, time.Now, log); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "readable by others") {
		t.Fatalf("private modes warned:\n%s", out.String())
	}
	key := filepath.Join(dir, "tls", "self-signed.key")
	if _, err := os.Stat(key); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chmod(key, 0o644)
	out.Reset()
	if _, err := certs.LoadSelfSigned(dir, hosts, time.Now, log); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, key} {
		if !strings.Contains(out.String(), "path="+p+" ") {
			t.Errorf("no warning names %s:\n%s", p, out.String())
		}
	}
}
