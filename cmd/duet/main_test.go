package main

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestBinaryServesAndDrainsOnSIGTERM builds the real binary, runs it on a
// free port, makes a call's first steps over WebSocket, then sends SIGTERM:
// the client gets server_will_stop and the process exits 0.
func TestBinaryServesAndDrainsOnSIGTERM(t *testing.T) {
	n := startDuet(t, buildDuet(t), "--drain-timeout", "3s")
	if code, body := wstest.HTTPGet(t, "http://"+n.addr+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	c := wstest.Dial(t, n.url())
	wstest.Join(c, "s1")
	c.Expect("notification", "joined")

	n.cmd.Process.Signal(syscall.SIGTERM)
	c.Expect("notification", "server_will_stop")
	c.WS.Close() // a good client leaves; the drain then ends at once
	n.waitExit(t)
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
