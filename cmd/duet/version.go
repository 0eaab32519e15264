package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/duet-rtc/duet/internal/cli"
)

// Set at build time by scripts/release.sh and the Dockerfile, for what the
// Go toolchain cannot know (a build from a tarball has no VCS data, and Go
// never records when it built):
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD) -X main.date=2026-01-02T15:04:05Z"
var (
	commit string
	date   string
)

// buildInfo is what `duet version` prints.
type buildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	Modified   bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	CommitTime string `json:"commit_time,omitempty"`
	Date       string `json:"date,omitempty"` // when it was built
	Go         string `json:"go"`
	Platform   string `json:"platform"`
}

// readBuildInfo merges the -ldflags values with what the binary records
// about itself: the module version (set by `go install ...@v1.2.3`, or a
// pseudo-version from the VCS stamp), the VCS revision and time.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = bi.GoVersion
	if (b.Version == "" || b.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = b.Modified || s.Value == "true"
		}
	}
	return b
}

func versionMain(_ context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) int {
	fs := flag.NewFlagSet("duet version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the build information as one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: duet version [--json]\n\nPrints the version, commit, build date and Go version.\n\nflags:")
		cli.PrintFlags(fs.Output(), fs)
	}
	if code, ok := parseFlags(fs, "duet version", args, stdout, stderr); !ok {
		return code
	}
	b := readBuildInfo()
	if *asJSON {
		json.NewEncoder(stdout).Encode(b)
		return 0
	}
	fmt.Fprintln(stdout, "duet", b.Version)
	if b.Commit != "" {
		mod := ""
		if b.Modified {
			mod = " (modified)"
		}
		fmt.Fprintf(stdout, "  commit:      %s%s\n", b.Commit, mod)
	}
	if b.CommitTime != "" {
		fmt.Fprintf(stdout, "  commit time: %s\n", b.CommitTime)
	}
	if b.Date != "" {
		fmt.Fprintf(stdout, "  built:       %s\n", b.Date)
	}
	fmt.Fprintf(stdout, "  go:          %s %s\n", b.Go, b.Platform)
	return 0
}
