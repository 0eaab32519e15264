package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestBenchWorkers runs `duet bench` split over worker processes, each
// bound to its own 127.0.0.x source address, against a duet process, and
// reads that process's memory: the path the published figures take.
func TestBenchWorkers(t *testing.T) {
	bin := buildDuet(t)
	n := startDuet(t, bin, "--rate-limit", "0")
	out := filepath.Join(t.TempDir(), "idle.json")
	for _, args := range [][]string{
		{"idle", "--conns", "200", "--workers", "3", "--hold", "200ms", "--server-pid", strconv.Itoa(n.cmd.Process.Pid), "--json", out},
		{"relay", "--pairs", "6", "--workers", "2", "--duration", "500ms", "--warmup", "100ms"},
		{"setup", "--pairs", "6", "--workers", "2", "--duration", "500ms", "--warmup", "100ms"},
	} {
		cmd := exec.Command(bin, append([]string{"bench"}, append(args, "--url", n.url(), "--quiet")...)...)
		b, err := cmd.CombinedOutput()
		t.Logf("duet bench %v:\n%s", args, b)
		if err != nil {
			t.Fatalf("duet bench %v: %v", args, err)
		}
	}
	var s struct {
		Sockets, Connected, Workers int
		RSS                         int64   `json:"server_rss_bytes"`
		PerSocket                   float64 `json:"server_rss_per_socket_bytes"`
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Connected != 200 || s.Workers != 3 || s.RSS <= 0 {
		t.Errorf("idle summary %s", b)
	}
}
