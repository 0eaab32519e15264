package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersion builds duet as the release script and the Dockerfile do, with
// the version, commit and date it cannot know itself, and reads them back
// with the Go version and platform it records.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "duet")
	ld := "-X main.version=v9.8.7 -X main.commit=0123456789abcdef0123456789abcdef01234567 -X main.date=2026-01-02T03:04:05Z"
	if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var b buildInfo
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := buildInfo{Version: "v9.8.7", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-01-02T03:04:05Z",
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Modified: b.Modified, CommitTime: b.CommitTime}
	if b != want {
		t.Fatalf("version --json = %+v, want %+v", b, want)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		text, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{"duet v9.8.7\n", "commit:      0123456789abcdef", "built:       2026-01-02T03:04:05Z\n", "go:          " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH} {
			if !strings.Contains(string(text), line) {
				t.Errorf("%v printed %q, lacking %q", args, text, line)
			}
		}
	}
}

// TestVersionWithoutLdflags: a plain build still says which Go made it.
func TestVersionWithoutLdflags(t *testing.T) {
	b := readBuildInfo()
	if b.Version == "" || b.Go != runtime.Version() || b.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("%+v", b)
	}
}
