package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestBinaryServesAndDrainsOnSIGTERM builds the real binary, runs it on a
// free port, makes a call's first steps over WebSocket, then sends SIGTERM:
// the client gets server_will_stop and the process exits 0.
func TestBinaryServesAndDrainsOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "duet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--drain-timeout", "3s")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	// The first log line names the bound address.
	lines := bufio.NewScanner(stderr)
	var addr string
	for lines.Scan() {
		var rec map[string]any
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec["msg"] == "duet listening" {
			addr, _ = rec["addr"].(string)
			break
		}
	}
	if addr == "" {
		t.Fatal("no listening line in the log")
	}
	go func() { // keep draining the log so the process never blocks on it
		for lines.Scan() {
		}
	}()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/WebRTCAppEE/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"command":"join","streamId":"s1"}`))
	readCmd := func() map[string]any {
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	if m := readCmd(); m["definition"] != "joined" {
		t.Fatalf("got %v", m)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if m := readCmd(); m["definition"] != "server_will_stop" {
		t.Fatalf("got %v, want server_will_stop", m)
	}
	ws.Close() // a good client leaves; the drain then ends at once
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
}

func TestInvalidConfigFailsAtStart(t *testing.T) {
	var out, errb strings.Builder
	code := run(t.Context(), []string{"serve", "--max-message-bytes", "1"}, &out, &errb, os.Getenv)
	if code != 2 || !strings.Contains(errb.String(), "max_message_bytes") {
		t.Fatalf("code %d, stderr %q", code, errb.String())
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"serve", "--help"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("code %d", code)
	}
	for _, want := range []string{"-listen", "-max-message-bytes", "-probe-timeout", "-drain-timeout", "DUET_ALLOWED_ORIGINS", "-max-connections", "-rate-limit"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %s", want)
		}
	}
}
