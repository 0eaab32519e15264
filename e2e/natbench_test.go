package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// firstFrameJS records, in a demo tab, the wall-clock time at which the
// remote video presents its first frame (window.firstFrame, ms since the
// epoch; every process of the lab shares the clock).
const firstFrameJS = `(() => {
  window.firstFrame = 0;
  document.getElementById('remote-video').requestVideoFrameCallback(() => { window.firstFrame = Date.now(); });
  return true;
})()`

// BenchmarkNATFirstFrame measures, in each topology of the NAT lab (see
// TestNATTraversal), how long a call takes to show video: from the moment
// the second person's page, its camera on, starts to connect to duet (the
// first waits in the room) until both tabs have presented a frame of the
// other's video — signaling, ICE through the NATs (and TURN), DTLS and the
// first decoded frame — over
// DUET_NAT_RUNS (10) calls per topology, each in a room of its own. It
// prints one FIRSTFRAME line per topology; scripts/bench-nat.sh runs it
// and writes docs/benchmarks.md. b.N is ignored: the calls are the
// measurement.
//
//	go test ./e2e -run '^$' -bench NATFirstFrame -benchtime 1x -timeout 60m
func BenchmarkNATFirstFrame(b *testing.B) {
	runs := 10
	if n, err := strconv.Atoi(os.Getenv("DUET_NAT_RUNS")); err == nil && n > 0 {
		runs = n
	}
	l := newNATLab(b)
	for ti, tp := range topologies {
		b.Run(strings.ReplaceAll(tp.name, " ", "_"), func(b *testing.B) {
			a := l.lab.AddSite(tp.a)
			c := l.lab.AddSite(tp.b)
			browserA, browserC := l.browser(b, a), l.browser(b, c)
			var times []float64
			for i := range runs {
				b.Run(fmt.Sprintf("call%d", i+1), func(b *testing.B) {
					url := l.demoURL(fmt.Sprintf("first%d-%d", ti, i))
					ta := openDemo(b, browserA, url)
					waitJS(b, ta, "duetDemo.state === 'waiting'")
					evalJS[bool](b, ta, firstFrameJS)
					start := time.Now()
					tc := openDemo(b, browserC, url) // page loaded, camera asked for, socket opening
					evalJS[bool](b, tc, firstFrameJS)
					for _, tab := range []context.Context{ta, tc} {
						waitJS(b, tab, "window.firstFrame > 0")
					}
					last := max(evalJS[float64](b, ta, "window.firstFrame"), evalJS[float64](b, tc, "window.firstFrame"))
					// From the second person's SDK starting to connect: the
					// page and camera before it are the browser's, and
					// slow on a busy machine.
					joinAt := evalJS[float64](b, tc, "duetDemo.log.find(e => e.event === 'signaling' && e.detail === 'connecting').t")
					ms := last - joinAt
					b.Logf("page and camera ready %.0f ms after the page was opened", joinAt-float64(start.UnixMilli()))
					p := waitPair(b, ta, "duetDemo.call.pc", "tab", func(p candidatePair) bool { return tp.want(p, a, c) })
					b.Logf("%s call %d: %.0f ms (%v)", tp.name, i+1, ms, p)
					times = append(times, ms)
					// the tabs close with this sub-benchmark: a quiet
					// machine for the next call
					chromedp.Do(ta, chromedp.Navigate("about:blank"))
					chromedp.Do(tc, chromedp.Navigate("about:blank"))
				})
			}
			if len(times) < runs {
				return // a call failed, and said why
			}
			slices.Sort(times)
			p50, worst := times[len(times)/2], times[len(times)-1]
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(worst, "max-ms")
			parts := make([]string, len(times))
			for i, v := range times {
				parts[i] = strconv.FormatFloat(v, 'f', 0, 64)
			}
			fmt.Printf("FIRSTFRAME topology=%s runs=%d p50=%.0f max=%.0f all=%s\n",
				strings.ReplaceAll(tp.name, " ", "_"), len(times), p50, worst, strings.Join(parts, ","))
		})
	}
}
