package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// A call relayed by a TURN server that signaling restarts do not touch:
// `duet turn` in its own process (the TURN-only mode), signaling nodes
// advertising it with turn_uris and minting its credentials from the
// secret file it keeps. Relay-only tabs (iceTransportPolicy "relay", as
// behind symmetric NATs) keep their allocations while duet serve is
// drained or killed and started again, so their media must not notice,
// as on a direct path.

// maxSeparateTURNGap is the bar for a signaling restart under a
// call relayed by a TURN server that stays up.
const maxSeparateTURNGap = 500 * time.Millisecond

// relayOnlyBootScript makes every peer connection of a page relay-only,
// also for a configuration set later (setConfiguration).
const relayOnlyBootScript = `(() => {
  const P = window.RTCPeerConnection;
  const relay = (c) => Object.assign({}, c || {}, { iceTransportPolicy: 'relay' });
  class RelayOnly extends P {
    constructor(c, ...rest) { super(relay(c), ...rest); }
    setConfiguration(c) { return super.setConfiguration(relay(c)); }
  }
  window.RTCPeerConnection = RelayOnly;
})();`

// openRelayDemo opens the demo page in a new tab whose peer connections
// may only use TURN relays.
func openRelayDemo(t testing.TB, browser context.Context, url string) context.Context {
	t.Helper()
	tab := browsertest.NewTab(t, browser)
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: relayOnlyBootScript}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	browsertest.WaitJS(t, tab, "!!window.duetDemo", waitFor, "document.documentElement.outerHTML.slice(0, 300)")
	return tab
}

// freeUDPPort is a loopback UDP port free now, for a TURN server that must
// come back on the same port after a restart.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		if ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port for both UDP and TCP")
	return 0
}

// startTURNProc runs `duet turn` with args and waits until it serves.
func startTURNProc(t testing.TB, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"turn", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		var rec struct{ Msg string }
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "duet turn running" {
			go func() {
				for lines.Scan() {
				}
			}()
			return
		}
	}
	t.Fatalf("duet turn %v did not start", args)
}

// TestRelayedCallOutlivesSignalingRestart: two relay-only tabs in a call
// relayed by `duet turn`; duet serve (which advertises it and mints its
// credentials from the secret file duet turn made) is drained and started
// again, then killed and started again. The relay stays up, so the remote
// video pauses no more than 500 ms, on the same RTCPeerConnection, neither
// tab ever shows "Waiting for peer", and the chat still works.
func TestRelayedCallOutlivesSignalingRestart(t *testing.T) {
	bin := buildDuet(t)
	dir := t.TempDir()
	turnListen := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	secretFile := filepath.Join(dir, "turn_secret")
	// loopback is where the tabs' relay candidates are
	startTURNProc(t, bin, "--turn-listen", turnListen, "--turn-allowed-peers", "127.0.0.0/8",
		"--turn-secret-file", secretFile, "--data-dir", dir)
	srv := startDuet(t, bin, "127.0.0.1:0", "--drain-timeout", "3s", "--data-dir", dir,
		"--turn-uris", "turn:"+turnListen+"?transport=udp", "--turn-secret-file", secretFile)
	browser := browsertest.Browser(t)
	url := srv.http() + "/?room=relay-restart"
	alice := openRelayDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openRelayDemo(t, browser, url)
	waitInCall(t, alice, bob)
	for i, tab := range []context.Context{alice, bob} {
		p := waitPair(t, tab, "duetDemo.call.pc", "tab", func(p candidatePair) bool {
			return p.Local.Type == "relay" && strings.Contains(p.Local.URL, turnListen)
		})
		t.Logf("%s: %v", []string{"alice", "bob"}[i], p)
	}
	call := watchCall(t, []string{"alice", "bob"}, alice, bob)
	chat(t, alice, bob, "relayed, before the restarts")

	for i, fault := range []string{"drain", "kill"} {
		call.reset()
		since := evalJS[float64](t, alice, "Date.now()")
		start := time.Now()
		if fault == "drain" {
			srv.drain(t)
		} else {
			srv.kill(t)
		}
		srv.restart(t)
		t.Logf("%s: server back after %v", fault, time.Since(start).Round(time.Millisecond))
		rejoined(t, i+2, alice, bob)
		waitVideoPlaying(t, alice)
		waitVideoPlaying(t, bob)
		call.check(fault, maxSeparateTURNGap)
		for j, tab := range []context.Context{alice, bob} {
			waited := evalJS[int](t, tab, fmt.Sprintf(
				"duetDemo.log.filter(e => e.t >= %f && e.event === 'state' && e.detail === 'waiting').length", since))
			if waited > 0 {
				t.Errorf("%s: %s showed 'Waiting for peer' %d times", fault, call.names[j], waited)
			}
		}
		if t.Failed() {
			for j, tab := range []context.Context{alice, bob} {
				t.Logf("%s: %s's events since the fault (ms): %s", fault, call.names[j], evalJS[string](t, tab, fmt.Sprintf(
					"JSON.stringify(duetDemo.log.filter(e => e.t >= %f).map(e => (e.t - %f) + ' ' + e.event + ':' + JSON.stringify(e.detail)))", since, since)))
			}
		}
		chat(t, alice, bob, "after the "+fault)
		chat(t, bob, alice, "still relayed after the "+fault)
	}
}
