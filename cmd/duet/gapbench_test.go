package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
)

// TestGapDistribution is a benchmark, not a test: scripts/bench-gap-go.sh
// runs it with DUET_GAP_RUNS set. Two `duet peer` processes pipe numbered
// streams both ways (a line every 10 ms) while each fault is repeated
// DUET_GAP_RUNS times; for each occurrence it records the longest silence
// either side saw from the fault until 100 more lines had arrived, and
// prints the distribution. Nothing here passes or fails on timing; it
// fails only when a stream loses or reorders a line or a fault costs a
// PeerConnection.
func TestGapDistribution(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("DUET_GAP_RUNS"))
	if runs <= 0 {
		t.Skip("a benchmark: run scripts/bench-gap-go.sh (sets DUET_GAP_RUNS)")
	}
	bin := buildDuet(t)
	results := map[string][]time.Duration{}
	var order []string
	record := func(fault string, a, b *streamPeer, fire func()) {
		t0 := time.Now()
		fire()
		a.out.waitCount(t, a.out.count()+100, 60*time.Second)
		b.out.waitCount(t, b.out.count()+100, 60*time.Second)
		g := max(a.out.gapSince(t0), b.out.gapSince(t0))
		if results[fault] == nil {
			order = append(order, fault)
		}
		results[fault] = append(results[fault], g)
		t.Logf("%s #%d: %v", fault, len(results[fault]), g)
		if g > time.Second { // say what the peers did meanwhile
			for _, p := range []*streamPeer{a, b} {
				for _, ev := range p.events() {
					if at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(ev["time"])); !at.Before(t0) && ev["event"] != "connection_state" {
						t.Logf("  %s: %v", p.name, ev)
					}
				}
			}
			_, endA := a.out.gapAt(t0)
			_, endB := b.out.gapAt(t0)
			t.Logf("  fault at %s; longest gaps ended at a %s, b %s", t0.UTC().Format("15:04:05.000"), endA.UTC().Format("15:04:05.000"), endB.UTC().Format("15:04:05.000"))
		}
	}
	finish := func(a, b *streamPeer, stop chan struct{}) {
		a.onePeerConnection(t)
		b.onePeerConnection(t)
		close(stop)
		sa, sb := a.sent(), b.sent()
		a.finish(t, sb)
		b.finish(t, sa)
	}

	t.Run("loopback", func(t *testing.T) {
		srv := &restartable{bin: bin}
		srv.start(t)
		px := tcpproxy.Start(t, srv.addr)
		stop := make(chan struct{})
		argv := func(url string) []string {
			return []string{bin, "peer", "--url", url, "--room", "gaps", "--loopback", "--json"}
		}
		a := startStreamPeer(t, "a", argv(px.URL("WebRTCAppEE")), 10*time.Millisecond, stop)
		b := startStreamPeer(t, "b", argv("ws://"+srv.addr+"/WebRTCAppEE/websocket"), 10*time.Millisecond, stop)
		a.out.waitCount(t, 50, 30*time.Second)
		b.out.waitCount(t, 50, 30*time.Second)
		for i := range runs {
			record("none (baseline)", a, b, func() {})
			record("socket cut", a, b, px.Cut)
			record("server drain + restart", a, b, func() { srv.stop(t, syscall.SIGTERM); srv.start(t) })
			record("server kill -9 + restart", a, b, func() { srv.stop(t, syscall.SIGKILL); srv.start(t) })
			for _, p := range []*streamPeer{a, b} {
				p.waitEvents(t, "recognition", 2*(i+1), kind("recognized"))
			}
		}
		finish(a, b, stop)
	})

	t.Run("network change", func(t *testing.T) {
		if why := netnsAvailable(); why != "" {
			t.Skipf("network namespaces unavailable: %s", why)
		}
		net := newTwoUplinks(t)
		url := serveIn(t, bin, net.Srv, net.Server)
		stop := make(chan struct{})
		phone := startStreamPeer(t, "phone", In(net.Phone, bin, "peer", "--url", url, "--room", "move", "--json"), 10*time.Millisecond, stop)
		fixed := startStreamPeer(t, "fixed", In(net.Srv, bin, "peer", "--url", url, "--room", "move", "--json"), 10*time.Millisecond, stop)
		phone.out.waitCount(t, 50, 30*time.Second)
		fixed.out.waitCount(t, 50, 30*time.Second)
		active := 0
		for range 2 * runs { // there and back again counts twice
			next := 1 - active
			net.Up(t, next)
			time.Sleep(time.Second)
			record("network change (uplink lost)", phone, fixed, func() { net.Down(t, active) })
			active = next
		}
		finish(phone, fixed, stop)
	})

	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-30s %5s %9s %9s %9s\n", "fault (Go peers, data gap)", "runs", "p50", "p90", "max")
	for _, f := range order {
		g := slices.Clone(results[f])
		slices.Sort(g)
		q := func(p float64) time.Duration { return g[min(len(g)-1, int(p*float64(len(g))))] }
		fmt.Fprintf(&sb, "%-30s %5d %9s %9s %9s\n", f, len(g), ms(q(0.5)), ms(q(0.9)), ms(g[len(g)-1]))
	}
	t.Log(sb.String())
	if out := os.Getenv("DUET_GAP_OUT"); out != "" {
		os.WriteFile(out, []byte(sb.String()), 0o644)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
