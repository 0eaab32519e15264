package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// node is a running duet binary.
type node struct {
	cmd  *exec.Cmd
	addr string            // the address it listens on
	log  map[string]string // fields of interest from its start-up log
}

// buildDuet compiles this command into the test's temporary directory.
func buildDuet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "duet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startDuet runs `duet serve` on a free loopback port with JSON logs and
// args, and waits for its "duet listening" line. The process is killed
// when the test ends if it is still running.
func startDuet(t *testing.T, bin string, args ...string) *node {
	t.Helper()
	if !slices.Contains(args, "--data-dir") {
		// what duet keeps (the TURN secret) stays with the test
		args = append(slices.Clip(args), "--data-dir", t.TempDir())
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	n := &node{cmd: cmd, log: map[string]string{}}
	lines := bufio.NewScanner(stderr)
	for n.addr == "" && lines.Scan() {
		var rec map[string]any
		if json.Unmarshal(lines.Bytes(), &rec) != nil {
			continue
		}
		switch rec["msg"] {
		case "embedded NATS server started":
			n.log["nats"], _ = rec["url"].(string)
		case "duet listening":
			n.addr, _ = rec["addr"].(string)
		}
	}
	if n.addr == "" {
		t.Fatalf("duet %v did not start", args)
	}
	go func() { // keep draining the log so the process never blocks on it
		for lines.Scan() {
		}
	}()
	return n
}

// url is the node's WebSocket URL for app WebRTCAppEE.
func (n *node) url() string { return "ws://" + n.addr + "/WebRTCAppEE/websocket" }

// stop sends SIGTERM and checks the process exits 0 within 15 s.
func (n *node) stop(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	n.waitExit(t)
}

func (n *node) waitExit(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("duet did not exit after SIGTERM")
	}
}
