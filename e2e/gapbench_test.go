package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/web"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/netlab"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// BenchmarkMediaGaps measures what a person in a call notices when
// something fails underneath it: the longest pause of the remote video
// (between requestVideoFrameCallback calls, each tab in its own window),
// over DUET_GAP_RUNS (10) repetitions of each fault, on both sides; a
// run's figure is the worse side's. It prints one GAP line per fault.
// scripts/bench-media-gaps.sh runs it and writes docs/benchmarks.md.
//
//	go test ./e2e -run '^$' -bench MediaGaps -benchtime 1x -timeout 60m
//
// DUET_GAP_FAULTS picks faults (none,drain,kill,cut,network, and
// relay-drain,relay-kill: the drain and the kill with both tabs relay-only
// through the server's embedded TURN, its secret kept across the restart); with
// DUET_GAP_SDK_REV=<git revision> the pages run that revision's duet.js
// instead (e.g. the one before issue #12, to measure what it fixed). b.N
// is ignored: the repetitions are the measurement.
func BenchmarkMediaGaps(b *testing.B) {
	runs := 10
	if n, err := strconv.Atoi(os.Getenv("DUET_GAP_RUNS")); err == nil && n > 0 {
		runs = n
	}
	faults := strings.Split(cmpOr(os.Getenv("DUET_GAP_FAULTS"), "none,drain,kill,cut,network"), ",")
	sdk, label := benchSDK(b)
	for _, fault := range faults {
		b.Run(fault, func(b *testing.B) {
			gaps := gapRuns(b, fault, runs, sdk)
			slices.Sort(gaps)
			p50, worst := gaps[len(gaps)/2], gaps[len(gaps)-1]
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(worst, "max-ms")
			parts := make([]string, len(gaps))
			for i, g := range gaps {
				parts[i] = strconv.FormatFloat(g, 'f', 0, 64)
			}
			fmt.Printf("GAP sdk=%s fault=%s runs=%d p50=%.0f max=%.0f all=%s\n", label, fault, len(gaps), p50, worst, strings.Join(parts, ","))
		})
	}
}

// benchSDK is the duet.js the pages load: the embedded one, or the one
// of DUET_GAP_SDK_REV.
func benchSDK(b *testing.B) ([]byte, string) {
	rev := os.Getenv("DUET_GAP_SDK_REV")
	if rev == "" {
		return nil, "this"
	}
	out, err := exec.Command("git", "show", rev+":web/sdk/duet.js").Output()
	if err != nil {
		b.Fatalf("duet.js of %s: %v (the benchmark needs the git history)", rev, err)
	}
	return out, rev
}

// mountSDK mounts the web files, with sdk (when not nil) served as
// /sdk/duet.js.
func mountSDK(sdk []byte) func(*http.ServeMux) {
	if sdk == nil {
		return web.Mount
	}
	return func(mux *http.ServeMux) {
		inner := http.NewServeMux()
		web.Mount(inner)
		mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/sdk/duet.js" {
				w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
				w.Write(sdk)
				return
			}
			inner.ServeHTTP(w, r)
		}))
	}
}

// gapRuns sets a call up for fault and measures it runs times.
func gapRuns(b *testing.B, fault string, runs int, sdk []byte) []float64 {
	var a, c context.Context // the two tabs
	var hit func(int)        // does the fault; returns once it is done
	var back func(int)       // waits until the call is whole again after run i
	window := 2 * time.Second
	callUp := func(url string, ba, bc context.Context) {
		a = openDemo(b, ba, url)
		waitJS(b, a, "duetDemo.state === 'waiting'")
		c = openDemo(b, bc, url)
		waitInCall(b, a, c)
	}
	rejoin := func(i int) {
		for _, tab := range []context.Context{a, c} {
			browsertest.WaitJS(b, tab, fmt.Sprintf("duetDemo.counts.joined >= %d && duetDemo.state === 'connected'", i+2), time.Minute, describe)
		}
	}
	switch fault {
	case "none":
		srv := testserver.Start(b, config.Default(), server.Options{Mount: mountSDK(sdk)})
		br := browsertest.Browser(b)
		callUp(roomURL(srv, "gap-none"), br, br)
		hit, back, window = func(int) {}, func(int) {}, 5*time.Second
	case "drain", "kill", "relay-drain", "relay-kill":
		args, query := []string{"--drain-timeout", "3s"}, ""
		if strings.HasPrefix(fault, "relay-") {
			args = append(args, "--turn-enabled", "--turn-listen", "127.0.0.1:0", "--turn-allow-private-peers")
			query = "&relay"
		}
		proc := startDuet(b, buildDuet(b), "127.0.0.1:0", args...)
		pages := testserver.Start(b, config.Default(), server.Options{Mount: mountSDK(sdk)})
		br := browsertest.Browser(b)
		callUp(roomURL(pages, "gap-"+fault)+query+"&ws=ws://"+proc.addr+"/WebRTCAppEE/websocket", br, br)
		hit = func(int) {
			if strings.HasSuffix(fault, "drain") {
				proc.drain(b)
			} else {
				proc.kill(b)
			}
			proc.restart(b)
		}
		back = rejoin
	case "cut":
		srv := testserver.Start(b, config.Default(), server.Options{Mount: mountSDK(sdk)})
		px := tcpproxy.Start(b, srv.Addr)
		br := browsertest.Browser(b)
		url := roomURL(srv, "gap-cut")
		a = openDemo(b, br, url+"&ws="+px.URL("WebRTCAppEE"))
		waitJS(b, a, "duetDemo.state === 'waiting'")
		c = openDemo(b, br, url)
		waitInCall(b, a, c)
		hit = func(int) { px.Cut() }
		back = func(i int) {
			browsertest.WaitJS(b, a, fmt.Sprintf("duetDemo.counts.joined >= %d && duetDemo.state === 'connected'", i+2), time.Minute, describe)
			browsertest.WaitJS(b, c, "duetDemo.state === 'connected'", time.Minute, describe)
		}
	case "network":
		if err := netlab.Available(); err != nil {
			b.Fatal(err)
		}
		l := newPhoneLabMount(b, "gap-network", mountSDK(sdk))
		a, c = l.phone, l.laptop
		var down *netlab.Uplink
		hit = func(int) {
			down = l.activeUplink(b)
			if err := l.net.Down(down); err != nil {
				b.Fatal(err)
			}
		}
		back = func(int) {
			for _, tab := range []context.Context{a, c} {
				browsertest.WaitJS(b, tab, "performance.now() - watch.reset_at > 6000", time.Minute, describe)
			}
			if err := l.net.Up(down); err != nil {
				b.Fatal(err)
			}
		}
	default:
		b.Fatalf("unknown fault %q", fault)
	}
	watch := watchCall(b, []string{"a", "b"}, a, c)
	var gaps []float64
	for i := range runs {
		watch.reset()
		hit(i)
		back(i)
		// A stretch of call after it is whole again belongs to the run.
		for _, tab := range []context.Context{a, c} {
			browsertest.WaitJS(b, tab, fmt.Sprintf("performance.now() - watch.last < 200 && performance.now() - watch.reset_at > %d", window.Milliseconds()), time.Minute, describe)
		}
		worst := 0.0
		for j := range 2 {
			worst = max(worst, watch.read(j).Max)
		}
		gaps = append(gaps, worst)
		b.Logf("%s run %d: %.0f ms", fault, i+1, worst)
		if fault == "network" { // let the restored uplink settle before the next run
			browsertest.WaitJS(b, a, "(window.settle = window.settle || performance.now() + 3000) < performance.now() && !(window.settle = 0)", time.Minute, describe)
		}
	}
	return gaps
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
