package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestBinaryTwoNodeCluster runs the real binary twice as "Running a
// cluster" describes for development: the first node embeds NATS, the
// second joins it with --nats-url. Two peers, one per node, pair and relay.
func TestBinaryTwoNodeCluster(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "duet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// run starts a node and returns the values of the wanted log fields.
	run := func(args ...string) (*exec.Cmd, map[string]string) {
		cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--drain-timeout", "2s"}, args...)...)
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		got := map[string]string{}
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			var rec map[string]any
			if json.Unmarshal(lines.Bytes(), &rec) != nil {
				continue
			}
			switch rec["msg"] {
			case "embedded NATS server started":
				got["nats"], _ = rec["url"].(string)
			case "duet listening":
				got["addr"], _ = rec["addr"].(string)
			}
			if got["addr"] != "" {
				break
			}
		}
		if got["addr"] == "" {
			t.Fatalf("node %v did not start", args)
		}
		go func() { // keep draining the log so the process never blocks on it
			for lines.Scan() {
			}
		}()
		return cmd, got
	}
	n1, l1 := run("--nats-embedded", "--nats-embedded-listen", "127.0.0.1:0", "--node-id", "one")
	if l1["nats"] == "" {
		t.Fatal("no embedded NATS URL in the log")
	}
	n2, l2 := run("--nats-url", l1["nats"], "--node-id", "two")

	dialNode := func(addr string) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/WebRTCAppEE/websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	expect := func(ws *websocket.Conn, field, want string) {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if m[field] != want {
			t.Fatalf("got %s, want %s %q", b, field, want)
		}
	}
	a, b := dialNode(l1["addr"]), dialNode(l2["addr"])
	a.WriteMessage(websocket.TextMessage, []byte(`{"command":"join","streamId":"s1"}`))
	expect(a, "definition", "joined")
	b.WriteMessage(websocket.TextMessage, []byte(`{"command":"join","streamId":"s1"}`))
	expect(b, "definition", "joined")
	expect(a, "command", "start")
	a.WriteMessage(websocket.TextMessage, []byte(`{"command":"takeConfiguration","streamId":"s1","type":"offer","sdp":"v=0"}`))
	expect(b, "command", "takeConfiguration")

	// The second node leaves; its peer's partner gets stop.
	b.Close()
	expect(a, "command", "stop")
	a.Close()
	for _, cmd := range []*exec.Cmd{n2, n1} {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("node did not exit after SIGTERM")
		}
	}
}
