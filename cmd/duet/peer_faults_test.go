package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
)

// restartable is a duet binary that can be stopped and started again on
// the same address, as an operator's restart or a crash would.
type restartable struct {
	bin, addr string
	cmd       *exec.Cmd
}

func (r *restartable) start(t *testing.T, args ...string) {
	t.Helper()
	listen := r.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	cmd := exec.Command(r.bin, append([]string{"serve", "--listen", listen, "--log-format", "json"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "duet listening" {
			r.addr, _ = rec["addr"].(string)
			break
		}
	}
	if r.addr == "" {
		t.Fatal("duet did not start")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	r.cmd = cmd
}

// stop ends the server with sig and waits for it.
func (r *restartable) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	r.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("duet did not exit after %v", sig)
	}
}

// TestPeerPipesThroughFaults: two `duet peer` processes pipe numbered
// streams both ways while, in turn, one's signaling socket is cut (the
// server alive), the server is drained and restarted, and the server is
// killed (SIGKILL) and restarted. Both streams arrive complete and in
// order, on the one PeerConnection each side made at the start.
func TestPeerPipesThroughFaults(t *testing.T) {
	noLeaks(t)
	bin := buildDuet(t)
	srv := &restartable{bin: bin}
	srv.start(t)
	px := tcpproxy.Start(t, srv.addr)
	stop := make(chan struct{})
	argv := func(url string) []string {
		return []string{bin, "peer", "--url", url, "--room", "faults", "--loopback", "--json"}
	}
	a := startStreamPeer(t, "a", argv(px.URL("WebRTCAppEE")), 10*time.Millisecond, stop)
	b := startStreamPeer(t, "b", argv("ws://"+srv.addr+"/WebRTCAppEE/websocket"), 10*time.Millisecond, stop)
	a.out.waitCount(t, 50, 30*time.Second)
	b.out.waitCount(t, 50, 30*time.Second)

	// 1. a's socket is cut; the server holds its seat and a takes it back.
	t0 := time.Now()
	px.Cut()
	a.waitEvents(t, "resumed join", 1, func(ev map[string]any) bool { return ev["event"] == "joined" && ev["resumed"] == true })
	a.out.waitCount(t, a.out.count()+50, 30*time.Second)
	b.out.waitCount(t, b.out.count()+50, 30*time.Second)
	t.Logf("socket cut: longest gap a %v, b %v", a.out.gapSince(t0), b.out.gapSince(t0))

	// 2. and 3. the server restarts: drained, then killed.
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t0 := time.Now()
		srv.stop(t, sig)
		srv.start(t)
		for _, p := range []*streamPeer{a, b} {
			p.waitEvents(t, "recognition after the restart", i+1, kind("recognized"))
		}
		a.out.waitCount(t, a.out.count()+50, 30*time.Second)
		b.out.waitCount(t, b.out.count()+50, 30*time.Second)
		ga, ea := a.out.gapAt(t0)
		gb, eb := b.out.gapAt(t0)
		t.Logf("restart after %v (at %s): longest gap a %v ending %s, b %v ending %s", sig, t0.Format("15:04:05.000"), ga, ea.Format("15:04:05.000"), gb, eb.Format("15:04:05.000"))
	}

	a.onePeerConnection(t)
	b.onePeerConnection(t)
	close(stop)
	sentA, sentB := a.sent(), b.sent()
	a.finish(t, sentB)
	b.finish(t, sentA)
	t.Logf("streams complete: a sent %d lines, b sent %d", sentA, sentB)
	if t.Failed() {
		t.Logf("a:\n%s\nb:\n%s", a.stderr.String(), b.stderr.String())
	}
}

// TestPeerPartnerKilled: the partner's process is killed (no leave, no
// DTLS close: its socket and its UDP port just go). duet peer is told its
// partner is reconnecting, keeps waiting for it through the server's
// reconnect grace, then gives the call up: exit code 5, without hanging.
func TestPeerPartnerKilled(t *testing.T) {
	bin := buildDuet(t)
	srv := &restartable{bin: bin}
	srv.start(t, "--reconnect-grace", "4s")
	stop := make(chan struct{})
	defer close(stop)
	argv := []string{bin, "peer", "--url", "ws://" + srv.addr + "/WebRTCAppEE/websocket", "--room", "killed", "--loopback", "--json"}
	a := startStreamPeer(t, "a", argv, 10*time.Millisecond, stop)
	b := startStreamPeer(t, "b", argv, 10*time.Millisecond, stop)
	a.out.waitCount(t, 50, 30*time.Second)
	start := time.Now()
	b.cmd.Process.Kill()
	select {
	case err := <-a.exit:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitConnFailed {
			t.Fatalf("a exited with %v, want code %d:\n%s", err, exitConnFailed, a.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("a still waits for a dead partner:\n%s", a.stderr.String())
	}
	if a.count(kind("peer_reconnecting")) != 1 {
		t.Errorf("a was not told its partner was reconnecting:\n%s", a.stderr.String())
	}
	t.Logf("a gave the call up %v after the partner was killed", time.Since(start))
}
