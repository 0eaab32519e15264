package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSDKAloneBuilds: an app that requires only the Go SDK's module
// (client) builds, and neither its build list nor its packages hold the
// server's dependencies (NATS server, chromedp, pebble) or any package of
// the server. The SDK's module requires the server's (its tests run a real
// server of this tree), so the server's module is in the app's module
// graph; module graph pruning keeps that module's own requirements out.
//
// The app stands where a user's would, outside this tree and the
// workspace; replace directives stand in for published versions, and the
// modules come from the local cache only (GOPROXY=off).
func TestSDKAloneBuilds(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	app := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(app, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", `module example.com/sdkapp

go 1.26.8

require github.com/duet-rtc/duet/client v0.0.0

replace (
	github.com/duet-rtc/duet => `+root+`
	github.com/duet-rtc/duet/client => `+filepath.Join(root, "client")+`
	github.com/duet-rtc/duet/protocol => `+filepath.Join(root, "protocol")+`
)
`)
	write("main.go", `package main

import (
	"context"
	"fmt"

	"github.com/duet-rtc/duet/client"
)

func main() {
	_, err := client.Dial(context.Background(), "ws://127.0.0.1:1/App/websocket", nil)
	fmt.Println(err)
}
`)
	// The checksums a user's go.sum would get from the checksum database.
	sum, err := os.ReadFile(filepath.Join(root, "client", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = app
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return string(out)
	}
	goCmd("build", "-o", filepath.Join(app, "app"), ".")
	for _, m := range strings.Split(goCmd("list", "-m", "-e", "all"), "\n") {
		for _, bad := range []string{"github.com/nats-io/nats-server", "github.com/chromedp/", "github.com/letsencrypt/pebble"} {
			if strings.HasPrefix(m, bad) {
				t.Errorf("an app of the SDK alone requires %s", m)
			}
		}
	}
	for _, p := range strings.Fields(goCmd("list", "-deps", ".")) {
		if q, ok := inModule(p); ok && q != "protocol" && !under(q, "client") {
			t.Errorf("an app of the SDK alone links %s", p)
		}
	}
}
