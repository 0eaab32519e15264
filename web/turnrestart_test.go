package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// Calls relayed by TURN through server restarts: the tabs were
// relay-only (iceTransportPolicy "relay", as behind symmetric NATs), and a
// restart of duet with its embedded TURN server left them "Waiting for
// peer" for good — the new process had a new random secret and refused
// every credential the tabs held.

// Bars: with the embedded TURN server the relay itself restarts, so the
// media must find a new allocation (an ICE restart); with a TURN server
// that stays up (duet turn) only signaling restarts and the media must not
// notice, as on a direct path.
const (
	maxRelayRestartGap  = 1500 * time.Millisecond
	maxSeparateTURNGap  = 500 * time.Millisecond
	relayOnlyBootScript = `(() => {
  // Relay-only, as a page behind a symmetric NAT effectively is, also
  // for a configuration set later (setConfiguration).
  const P = window.RTCPeerConnection;
  const relay = (c) => Object.assign({}, c || {}, { iceTransportPolicy: 'relay' });
  class RelayOnly extends P {
    constructor(c, ...rest) { super(relay(c), ...rest); }
    setConfiguration(c) { return super.setConfiguration(relay(c)); }
  }
  window.RTCPeerConnection = RelayOnly;
})();`
)

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

// TestRelayedCallSurvivesServerRestart: two relay-only tabs in a call
// through duet's TURN; the server is drained and started again, then
// killed and started again. With default settings the TURN secret is kept
// in the data directory, so the restarted process accepts the tabs'
// credentials: the call comes back on the same RTCPeerConnection within
// 1.5 s, neither tab ever shows "Waiting for peer", the chat still works.
// With TURN in its own process (duet turn) that stays up, the relayed
// media does not stop for the signaling restart (≤ 500 ms, as direct).
func TestRelayedCallSurvivesServerRestart(t *testing.T) {
	bin := buildDuet(t)
	for _, separate := range []bool{false, true} {
		name := map[bool]string{false: "embedded TURN", true: "duet turn"}[separate]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			turnListen := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
			args := []string{"--drain-timeout", "3s", "--data-dir", dir}
			bar := maxRelayRestartGap
			if separate {
				secretFile := filepath.Join(dir, "turn_secret")
				startTURNProc(t, bin, "--turn-listen", turnListen, "--turn-allowed-peers", "127.0.0.0/8",
					"--turn-secret-file", secretFile, "--data-dir", dir)
				args = append(args, "--turn-uris", "turn:"+turnListen+"?transport=udp", "--turn-secret-file", secretFile)
				bar = maxSeparateTURNGap
			} else {
				// loopback is where the tabs' relay candidates are
				args = append(args, "--turn-enabled", "--turn-listen", turnListen, "--turn-allowed-peers", "127.0.0.0/8")
			}
			srv := startDuet(t, bin, "127.0.0.1:0", args...)
			browser := browsertest.Browser(t)
			url := srv.http() + "/?room=relay-restart"
			alice := openRelayDemo(t, browser, url)
			waitJS(t, alice, "duetDemo.state === 'waiting'")
			bob := openRelayDemo(t, browser, url)
			waitInCall(t, alice, bob)
			for i, tab := range []context.Context{alice, bob} {
				p := waitPair(t, tab, "duetDemo.call.pc", "tab", func(p candidatePair) bool { return p.Local.Type == "relay" })
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
				call.check(fault, bar)
				if t.Failed() {
					for j, tab := range []context.Context{alice, bob} {
						t.Logf("%s: %s's events since the fault (ms): %s", fault, call.names[j], evalJS[string](t, tab, fmt.Sprintf(
							"JSON.stringify(duetDemo.log.filter(e => e.t >= %f).map(e => (e.t - %f) + ' ' + e.event + ':' + JSON.stringify(e.detail)))", since, since)))
					}
				}
				for j, tab := range []context.Context{alice, bob} {
					waited := evalJS[int](t, tab, fmt.Sprintf(
						"duetDemo.log.filter(e => e.t >= %f && e.event === 'state' && e.detail === 'waiting').length", since))
					if waited > 0 {
						t.Errorf("%s: %s showed 'Waiting for peer' %d times", fault, call.names[j], waited)
					}
				}
				chat(t, alice, bob, "after the "+fault)
				chat(t, bob, alice, "still relayed after the "+fault)
			}
			if !separate {
				if _, err := os.Stat(filepath.Join(dir, "turn_secret")); err != nil {
					t.Errorf("no TURN secret kept in the data directory: %v", err)
				}
			}
		})
	}
}
