package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"testing"
	"time"
)

// TestPeerNetworkChange: a `duet peer` on a "phone" with two uplinks pipes
// a numbered stream both ways with a `duet peer` next to the server. The
// phone's active uplink (the one carrying both the signaling socket and
// the media path) is taken away, link and address, with the other one up:
// the stream is back within 3 s, on the same PeerConnection, with nothing
// lost. Then the phone moves back.
func TestPeerNetworkChange(t *testing.T) {
	net := newTwoUplinks(t)
	bin := buildDuet(t)

	url := serveIn(t, bin, net.Srv, net.Server)

	stop := make(chan struct{})
	phone := startStreamPeer(t, "phone", In(net.Phone, bin, "peer", "--url", url, "--room", "move", "--json", "-v"), 10*time.Millisecond, stop)
	fixed := startStreamPeer(t, "fixed", In(net.Srv, bin, "peer", "--url", url, "--room", "move", "--json", "-v"), 10*time.Millisecond, stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("phone:\n%s\nfixed:\n%s", phone.stderr.String(), fixed.stderr.String())
		}
	})
	phone.out.waitCount(t, 50, 30*time.Second)
	fixed.out.waitCount(t, 50, 30*time.Second)

	// Wi-Fi carries everything; cellular comes up beside it, then Wi-Fi
	// goes; later the phone moves back.
	moves := []struct {
		name     string
		up, down int
	}{{"wifi → cell", 1, 0}, {"cell → wifi", 0, 1}}
	for i, m := range moves {
		net.Up(t, m.up)
		time.Sleep(1500 * time.Millisecond) // the new uplink is just there, unused, for a while
		t0 := time.Now()
		net.Down(t, m.down)
		// The stream must be flowing again: 100 more lines each way.
		phone.out.waitCount(t, phone.out.count()+100, 30*time.Second)
		fixed.out.waitCount(t, fixed.out.count()+100, 30*time.Second)
		gp, gf := phone.out.gapSince(t0), fixed.out.gapSince(t0)
		t.Logf("%s: longest gap at the phone %v, at the fixed peer %v", m.name, gp, gf)
		if gp > 3*time.Second || gf > 3*time.Second {
			t.Errorf("%s: the stream stopped for %v / %v, want back within 3 s", m.name, gp, gf)
		}
		phone.waitEvents(t, "ICE restart", i+1, func(ev map[string]any) bool {
			r, _ := ev["reason"].(string)
			return ev["event"] == "renegotiating" && len(r) > 11 && r[:11] == "ice restart"
		})
	}
	phone.onePeerConnection(t)
	fixed.onePeerConnection(t)
	close(stop)
	sentP, sentF := phone.sent(), fixed.sent()
	phone.finish(t, sentF)
	fixed.finish(t, sentP)
	t.Logf("streams complete: phone sent %d lines, fixed peer %d", sentP, sentF)
}

// serveIn runs `duet serve` in namespace ns on addr:0 until the test ends
// and returns its WebSocket URL.
func serveIn(t *testing.T, bin, ns, addr string) string {
	t.Helper()
	argv := In(ns, bin, "serve", "--listen", addr+":0", "--log-format", "json")
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var listen string
	sc := bufio.NewScanner(stderr)
	for listen == "" && sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "duet listening" {
			listen, _ = rec["addr"].(string)
		}
	}
	if listen == "" {
		t.Fatalf("duet serve did not start in namespace %s", ns)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return "ws://" + listen + "/WebRTCAppEE/websocket"
}
