package bench

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is a run's result.
type Summary struct {
	Scenario    string   `json:"scenario"`
	Protocol    string   `json:"protocol"`
	URLs        []string `json:"urls"`
	Sockets     int      `json:"sockets"`
	Workers     int      `json:"workers"`
	Duration    float64  `json:"duration_s"`
	Window      int      `json:"window,omitempty"`
	RateOffered float64  `json:"rate_offered,omitempty"`
	Waves       int      `json:"waves,omitempty"`

	Connected     int64   `json:"connected"`
	ConnectPerSec float64 `json:"connect_per_s"`
	RSSBytes      int64   `json:"server_rss_bytes,omitempty"`
	RSSPerSocket  float64 `json:"server_rss_per_socket_bytes,omitempty"`
	// RSSPerSocketByPID splits RSSPerSocket by --server-pid process
	// (PID as a string), e.g. a TLS proxy and the server behind it.
	RSSPerSocketByPID map[string]float64 `json:"server_rss_per_socket_by_pid,omitempty"`
	Goroutines        int64              `json:"server_goroutines,omitempty"`
	GoroutinesPerS    float64            `json:"server_goroutines_per_socket,omitempty"`
	HeapBytes         int64              `json:"server_heap_bytes,omitempty"`
	HeapPerSocket     float64            `json:"server_heap_per_socket_bytes,omitempty"`
	// Kernel memory per held socket, read from /proc for the whole machine
	// (with a server on this host: both ends of each connection): the
	// slab caches of TCP sockets, the whole slab, and TCP buffer pages.
	KernelSocketSlabPerSocket float64 `json:"kernel_socket_slab_per_socket_bytes,omitempty"`
	KernelSlabPerSocket       float64 `json:"kernel_slab_per_socket_bytes,omitempty"`
	KernelTCPMemPerSocket     float64 `json:"kernel_tcp_mem_per_socket_bytes,omitempty"`
	// CPUPerSec is the servers' CPU time per second of the hold (1: a
	// whole core), read from /proc for --server-pid.
	CPUPerSec float64 `json:"server_cpu_per_s,omitempty"`
	// Reports are the quality reports sent (quality), ReportsPerSec their rate.
	Reports       int64   `json:"reports,omitempty"`
	ReportsPerSec float64 `json:"reports_per_s,omitempty"`

	PerSec      float64 `json:"per_s,omitempty"` // relay: messages/s; setup: setups/s
	BytesPerSec float64 `json:"bytes_per_s,omitempty"`
	P50         float64 `json:"p50_ms,omitempty"`
	P99         float64 `json:"p99_ms,omitempty"`
	P999        float64 `json:"p999_ms,omitempty"`
	Max         float64 `json:"max_ms,omitempty"`
	// Percentiles are the latency (ms) at each of plotPercentiles, for the
	// report's distribution plot.
	Percentiles []float64 `json:"percentiles_ms,omitempty"`

	// storm: members whose socket was lost, those back in their room, the
	// time from the first loss until the last was back, stop messages
	// received after the loss (none is right), and members that learned
	// their partner's session again (the call is recognised).
	StormLost        int64   `json:"storm_lost,omitempty"`
	StormBack        int64   `json:"storm_back,omitempty"`
	StormAllBackMS   float64 `json:"storm_all_back_ms,omitempty"`
	StormStops       int64   `json:"storm_stops"`
	StormKnowPartner int64   `json:"storm_know_partner,omitempty"`
	StormLostAgain   int64   `json:"storm_lost_again"`
	StormJoinFailed  int64   `json:"storm_join_failed"`

	// handshake: sessions resumed, the servers' CPU time in the measured
	// window, and handshakes per server CPU-second.
	Resumed   int64   `json:"resumed,omitempty"`
	ServerCPU float64 `json:"server_cpu_s,omitempty"`
	PerCore   float64 `json:"per_cpu_s,omitempty"`

	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
}

// plotPercentiles are the percentiles a summary keeps for the plots.
var plotPercentiles = []float64{1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99}

// serverState is what can be read of the servers under test.
type serverState struct {
	kernel     kernelState
	rss        int64         // summed over --server-pid, -1 when unknown
	rssBy      []int64       // each --server-pid's
	goroutines int64         // summed over --metrics, -1 when unknown
	heap       int64         // in-use heap summed over --metrics, -1 when unknown
	cpu        time.Duration // CPU time summed over --server-pid, -1 when unknown
	at         time.Time
}

func readServers(o *Options) serverState {
	st := serverState{rss: -1, goroutines: -1, heap: -1, cpu: -1, at: time.Now(), kernel: readKernel()}
	if len(o.ServerPIDs) > 0 {
		st.rss, st.cpu = 0, 0
		for _, pid := range o.ServerPIDs {
			v, err := rssOf(pid)
			c, cerr := cpuOf(pid)
			if err != nil || cerr != nil {
				st.rss, st.rssBy, st.cpu = -1, nil, -1
				break
			}
			st.rss += v
			st.rssBy = append(st.rssBy, v)
			st.cpu += c
		}
	}
	if len(o.Metrics) > 0 {
		st.goroutines, st.heap = 0, 0
		for _, u := range o.Metrics {
			v, err := metricOf(u, "go_goroutines", o.tlsConf)
			h, herr := metricOf(u, "go_memstats_heap_inuse_bytes", o.tlsConf)
			if err != nil || herr != nil {
				st.goroutines, st.heap = -1, -1
				break
			}
			st.goroutines += int64(v)
			st.heap += int64(h)
		}
	}
	return st
}

// rssOf reads VmRSS of a process from /proc.
func rssOf(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// metricOf reads one unlabelled sample from a Prometheus text endpoint;
// an https:// one is read with tc.
func metricOf(url, name string, tc *tls.Config) (float64, error) {
	c := http.Client{Timeout: 5 * time.Second}
	if tc != nil {
		c.Transport = &http.Transport{TLSClientConfig: tc}
	}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", url, name)
}

func (s *Summary) idleFigures(o *Options, before, after serverState) {
	if before.rss >= 0 && after.rss >= 0 {
		s.RSSBytes = after.rss
		s.RSSPerSocket = float64(after.rss-before.rss) / float64(s.Sockets)
		if len(o.ServerPIDs) > 1 && len(before.rssBy) == len(o.ServerPIDs) && len(after.rssBy) == len(o.ServerPIDs) {
			s.RSSPerSocketByPID = map[string]float64{}
			for i, pid := range o.ServerPIDs {
				s.RSSPerSocketByPID[strconv.Itoa(pid)] = float64(after.rssBy[i]-before.rssBy[i]) / float64(s.Sockets)
			}
		}
	}
	per := func(a, b int64) float64 {
		if a < 0 || b < 0 {
			return 0
		}
		return float64(b-a) / float64(s.Sockets)
	}
	if len(o.ServerPIDs) > 0 { // a server on this host
		s.KernelSocketSlabPerSocket = per(before.kernel.socketSlab, after.kernel.socketSlab)
		s.KernelSlabPerSocket = per(before.kernel.slab, after.kernel.slab)
		s.KernelTCPMemPerSocket = per(before.kernel.tcpMem, after.kernel.tcpMem)
	}
	if before.goroutines >= 0 && after.goroutines >= 0 {
		s.Goroutines = after.goroutines
		s.GoroutinesPerS = float64(after.goroutines-before.goroutines) / float64(s.Sockets)
	}
	if before.heap >= 0 && after.heap >= 0 {
		s.HeapBytes = after.heap
		s.HeapPerSocket = float64(after.heap-before.heap) / float64(s.Sockets)
	}
}

// holdCPUFigures is the servers' CPU per second between two readings.
func (s *Summary) holdCPUFigures(before, after serverState) {
	if before.cpu >= 0 && after.cpu >= 0 {
		s.CPUPerSec = (after.cpu - before.cpu).Seconds() / after.at.Sub(before.at).Seconds()
	}
}

func (s *Summary) merge(o *Options, rs []*result) {
	h := newHist()
	var slowest float64
	var count, bytes int64
	for _, r := range rs {
		s.Connected += r.Connected
		slowest = max(slowest, r.ConnectSecs)
		count += r.Count
		bytes += r.Bytes
		s.Resumed += r.Resumed
		s.Errors += r.Errors
		if s.FirstError == "" {
			s.FirstError = r.FirstError
		}
		h.merge(r.Lat)
	}
	if slowest > 0 {
		s.ConnectPerSec = float64(s.Connected) / slowest
	}
	if o.Scenario == "quality" {
		s.Reports = count
		s.ReportsPerSec = float64(count) / o.Hold.Seconds()
	}
	if o.Scenario == "storm" {
		s.stormFigures(rs, h)
		return
	}
	if o.holds() {
		return
	}
	s.PerSec = float64(count) / o.Duration.Seconds()
	s.BytesPerSec = float64(bytes) / o.Duration.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	s.P50, s.P99, s.P999, s.Max = ms(h.quantile(0.50)), ms(h.quantile(0.99)), ms(h.quantile(0.999)), ms(time.Duration(h.Max))
	for _, p := range plotPercentiles {
		s.Percentiles = append(s.Percentiles, ms(h.quantile(p/100)))
	}
}

// stormFigures merges the workers' storm results.
func (s *Summary) stormFigures(rs []*result, h *hist) {
	var first, last int64
	for _, r := range rs {
		st := r.Storm
		if st == nil {
			continue
		}
		s.StormLost += st.Lost
		s.StormBack += st.Back
		s.StormStops += st.Stops
		s.StormKnowPartner += st.KnowPartner
		s.StormLostAgain += st.LostAgain
		s.StormJoinFailed += st.JoinFailed
		if st.FirstLoss != 0 {
			first = minNonZero(first, st.FirstLoss)
		}
		last = max(last, st.LastBack)
	}
	if first != 0 && last > first {
		s.StormAllBackMS = float64(last-first) / 1e6
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	s.P50, s.P99, s.P999, s.Max = ms(h.quantile(0.50)), ms(h.quantile(0.99)), ms(h.quantile(0.999)), ms(time.Duration(h.Max))
}

// cpuFigures sets the servers' CPU time and the handshakes per CPU-second.
func (s *Summary) cpuFigures(cpu float64) {
	if cpu > 0 {
		s.ServerCPU = cpu
		s.PerCore = s.PerSec * s.Duration / cpu
	}
}

func (s *Summary) print(w io.Writer) {
	if s.Scenario == "handshake" {
		fmt.Fprintf(w, "duet bench handshake — %s, %d worker(s)\n", strings.Join(s.URLs, " "), s.Workers)
	} else {
		fmt.Fprintf(w, "duet bench %s — protocol %s, %s, %d sockets, %d worker(s)\n", s.Scenario, s.Protocol, strings.Join(s.URLs, " "), s.Sockets, s.Workers)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, a...)...) }
	if s.Scenario != "handshake" {
		row("sockets connected", "%d of %d (%.0f/s)", s.Connected, s.Sockets, s.ConnectPerSec)
	}
	switch s.Scenario {
	case "idle", "attack-header", "attack-byte", "quality":
		if s.Scenario == "quality" {
			row("quality reports", "%d (%.0f/s)", s.Reports, s.ReportsPerSec)
		}
		if s.CPUPerSec > 0 {
			row("server CPU while held", "%.1f %% of a core", 100*s.CPUPerSec)
		}
		if s.RSSBytes > 0 {
			row("server RSS", "%.1f MiB", float64(s.RSSBytes)/(1<<20))
			row("server RSS per socket", "%.2f KiB", s.RSSPerSocket/1024)
		} else {
			row("server RSS", "unknown (give --server-pid)")
		}
		if s.HeapBytes > 0 {
			row("server heap in use", "%.1f MiB (%.2f KiB per socket)", float64(s.HeapBytes)/(1<<20), s.HeapPerSocket/1024)
		}
		if s.Goroutines > 0 {
			row("server goroutines", "%d (%.2f per socket)", s.Goroutines, s.GoroutinesPerS)
		}
		if s.KernelSocketSlabPerSocket != 0 {
			row("kernel, this host", "%.2f KiB per socket in socket slabs (%.2f in all slab, %.2f TCP buffers), both ends",
				s.KernelSocketSlabPerSocket/1024, s.KernelSlabPerSocket/1024, s.KernelTCPMemPerSocket/1024)
		}
	case "relay":
		if s.RateOffered > 0 {
			row("offered", "%.0f messages/s", s.RateOffered)
		} else {
			row("window", "%d per direction", s.Window)
		}
		row("relayed", "%.0f messages/s, %.1f MB/s", s.PerSec, s.BytesPerSec/1e6)
		row("one-way latency", "p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms", s.P50, s.P99, s.P999, s.Max)
	case "storm":
		row("members back", "%d of %d that lost their socket", s.StormBack, s.StormLost)
		row("every member back", "%.0f ms after the first loss", s.StormAllBackMS)
		row("outage per member", "p50 %.0f ms  p99 %.0f ms  max %.0f ms", s.P50, s.P99, s.Max)
		row("stop received", "%d (a call that survives the server must see none)", s.StormStops)
		row("partner recognised", "%d members (peerSession of their partner)", s.StormKnowPartner)
		row("lost again", "%d members lost their socket after they were back", s.StormLostAgain)
		row("join failed", "%d members had a connect fail after its join was sent", s.StormJoinFailed)
	case "handshake":
		row("TLS handshakes", "%.0f /s (%.0f%% resumed)", s.PerSec, 100*float64(s.Resumed)/max(1, s.PerSec*s.Duration))
		row("handshake latency", "p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms", s.P50, s.P99, s.P999, s.Max)
		if s.ServerCPU > 0 {
			row("server CPU", "%.2f s in %.0f s: %.0f handshakes per CPU-second", s.ServerCPU, s.Duration, s.PerCore)
		}
	case "setup":
		row("call setups", "%.0f /s", s.PerSec)
		row("setup latency", "p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms", s.P50, s.P99, s.P999, s.Max)
	}
	if s.Errors > 0 {
		row("errors", "%d (first: %s)", s.Errors, s.FirstError)
	} else {
		row("errors", "0")
	}
	tw.Flush()
}
