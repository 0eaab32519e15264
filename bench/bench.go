// Package bench is duet's load generator: it drives a signaling server with
// many WebSocket clients through three scenarios — idle (held sockets),
// relay (candidate throughput and latency) and setup (complete call setups)
// — and reports a summary table or JSON. It speaks duet's protocol, the
// PeerJS server's, and the bare relay's (package barerelay), so the same
// scenario can be run against each.
//
// One process may hold only so many files, so a run can be split over
// worker processes (copies of the running binary) that each bind their own
// 127.0.0.x source address.
package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/duet-rtc/duet/internal/cli"
)

// Options are a run's settings, all from flags.
type Options struct {
	Scenario    string        // idle, relay or setup
	Protocol    string        // duet, peerjs or bare
	URLs        []string      // servers; pairs are spread over them
	Cross       bool          // the two sides of a pair on different URLs
	Conns       int           // idle: sockets (pairs × 2)
	Pairs       int           // relay, setup: pairs
	Duration    time.Duration // relay, setup: measured time
	Warmup      time.Duration // relay, setup: unmeasured time first
	Hold        time.Duration // idle, quality: time held after every socket is joined
	ReportEvery time.Duration // quality: interval of each socket's reports
	Waves       int           // attacks: times the attack is run against the same server
	Spread      time.Duration // storm: a member comes back within this long of losing its socket
	StormWait   time.Duration // storm: bound on the wait for every member, from the first loss
	ReadyFile   string        // storm: created once every socket is joined (the cue to kill the server)
	Window      int           // relay: messages in flight per direction
	Rate        float64       // relay: messages/s over the run (0: as fast as possible)
	Tick        time.Duration // relay with a rate: shortest sleep of a paced sender
	SDPBytes    int           // setup: size of offer and answer
	Workers     int           // worker processes (1: in this process)
	Sources     []net.IP      // source addresses, one per worker in turn
	Parallel    int           // dials in flight per worker
	ServerPIDs  []int         // server processes whose RSS is read (idle)
	Metrics     []string      // duet /metrics URLs for goroutine counts (idle)
	Timeout     time.Duration // hard bound on the whole run
	MaxConns    int           // hard bound on sockets
	JSON        string        // write the summary as JSON to this file ("-": stdout)
	Quiet       bool          // no progress line
	Insecure    bool          // wss://: do not verify the server's certificate
	CAFile      string        // wss://: PEM roots to verify the server with (empty: the system's)
	Resume      bool          // wss://: resume TLS sessions (a session cache per worker)
	Curve       string        // wss://: the one key exchange to offer ("": Go's default list)

	tlsConf *tls.Config // built from Insecure, CAFile and Resume by check

	worker int    // >= 0 in a worker process
	runID  string // names this run's rooms and ids, shared by its workers
}

// perWorkerLimit keeps a worker under this machine's ~20,000 open files.
const perWorkerLimit = 19000

// scenarios names what duet bench can run, for its usage errors.
const scenarios = "idle, relay, setup, quality, attack-header, attack-byte, handshake or storm"

func (o *Options) sockets() int {
	if o.usesConns() {
		return o.Conns
	}
	return 2 * o.Pairs
}

func (o *Options) pairs() int {
	if o.usesConns() {
		return o.Conns / 2
	}
	return o.Pairs
}

// usesConns reports whether --conns (not --pairs) sizes the scenario.
func (o *Options) usesConns() bool { return o.holds() || o.Scenario == "storm" }

// holds reports whether the scenario holds --conns sockets and reads the
// server's memory: idle and the attacks.
func (o *Options) holds() bool {
	return o.Scenario == "idle" || o.Scenario == "quality" || attackBytes(o.Scenario) != nil
}

// usageError is a mistake in the command line: reported with a pointer
// to --help rather than the whole usage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

// parse reads duet bench's command line. A mistake is returned wrapped in
// usageError; --help prints the usage on w and returns flag.ErrHelp.
func parse(args []string, w io.Writer) (*Options, error) {
	o := &Options{worker: -1}
	fs := flag.NewFlagSet("duet bench", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: duet bench SCENARIO [flags]

Scenarios:
  idle    hold --conns sockets joined to rooms in pairs; report server RSS and
          goroutines per socket and the connect+join rate
  relay   --pairs pairs send takeCandidate to each other with --window messages
          in flight; report messages/s, bytes/s and one-way latency
  setup   --pairs pairs run join, offer, answer, 8 candidates, leave back to
          back; report call setups/s and setup latency
  attack-header
          hold --conns sockets that each send only the 15 bytes a frame header
          announcing a 262,000-byte message and one byte of it take; report
          server RSS per socket (what the attacker's bytes cost the server)
  attack-byte
          hold --conns sockets that each send one byte of a frame header
  quality hold --conns sockets in calls, as idle, each sending a qualityReport
          every --report-every; report server CPU and RSS (compare with idle)
  storm   --conns sockets join rooms in pairs as duet's SDKs do (resumable,
          with a call session) and wait; when the server is killed and
          restarted (by a script: --ready-file says when), each comes back
          within --spread of losing its socket and rejoins with its resume
          token; report the time until every member is back, the outage per
          member, and any stop received (a resumed call must never see one)
  handshake
          --parallel dialers connect to a wss:// (or https://) URL, complete a
          TLS handshake and close, back to back; report handshakes/s, their
          latency and, with --server-pid, handshakes per server CPU-second
          (--tls-resume: resume sessions from the tickets of earlier ones)
  report  write docs/benchmarks.md from a comparison's JSON summaries
          (see scripts/bench-compare.sh)

The server must not rate-limit the generator: run duet with --rate-limit 0.

Flags:`)
		cli.PrintFlags(fs.Output(), fs)
	}
	var urls, sources, pids, metrics string
	fs.StringVar(&o.Protocol, "protocol", "duet", "server protocol: duet, peerjs or bare")
	fs.StringVar(&urls, "url", "ws://127.0.0.1:5080/App/websocket", "server WebSocket URLs, comma-separated; pairs are spread over them")
	fs.BoolVar(&o.Cross, "cross", false, "put the two sides of each pair on different URLs (cluster runs)")
	fs.IntVar(&o.Conns, "conns", 1000, "idle: sockets to hold (an even number)")
	fs.IntVar(&o.Pairs, "pairs", 50, "relay, setup: pairs of peers")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "relay, setup: measured time")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "relay, setup: time before measuring")
	fs.DurationVar(&o.Hold, "hold", 5*time.Second, "idle, quality: time to hold every socket before reading the server's memory")
	fs.DurationVar(&o.ReportEvery, "report-every", 5*time.Second, "quality: interval of each socket's quality reports (duet.js sends one every 5 s)")
	fs.DurationVar(&o.Spread, "spread", time.Second, "storm: each member reconnects at a random moment within this long of losing its socket")
	fs.DurationVar(&o.StormWait, "storm-wait", 2*time.Minute, "storm: give up on members not back this long after the first loss")
	fs.StringVar(&o.ReadyFile, "ready-file", "", "storm: create this file once every socket has joined")
	fs.IntVar(&o.Waves, "waves", 1, "attack-*: run the attack this many times in a row against the same server (a later wave reuses memory an earlier one left)")
	fs.IntVar(&o.Window, "window", 16, "relay: messages in flight per direction of a pair")
	fs.Float64Var(&o.Rate, "rate", 0, "relay: total messages/s to offer (0: as fast as the server accepts)")
	fs.DurationVar(&o.Tick, "tick", time.Millisecond, "relay with --rate: a paced sender sleeps at least this long and then sends what is due in one write")
	fs.IntVar(&o.SDPBytes, "sdp-bytes", 5120, "setup: size of the offer and answer SDP")
	fs.IntVar(&o.Workers, "workers", 0, "worker processes (0: one per 9,000 sockets; 1: in this process)")
	fs.StringVar(&sources, "source-ips", "", "source addresses for the workers, comma-separated or a range like 127.0.0.10-127.0.0.40 (default: 127.0.0.10 upward when several workers dial a loopback server)")
	fs.IntVar(&o.Parallel, "parallel", 64, "dials in flight per worker (handshake: dialers per worker)")
	fs.StringVar(&pids, "server-pid", "", "server process IDs whose RSS to read (idle), comma-separated")
	fs.StringVar(&metrics, "metrics", "", "duet /metrics URLs for goroutine counts (idle), comma-separated (default: derived from --url for duet)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "hard bound on the whole run")
	fs.IntVar(&o.MaxConns, "max-conns", 200000, "hard bound on sockets")
	fs.StringVar(&o.JSON, "json", "", "also write the summary as JSON to this file (- for stdout)")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress line")
	fs.BoolVar(&o.Insecure, "insecure", false, "wss://: do not verify the server's certificate (a self-signed test server)")
	fs.StringVar(&o.CAFile, "ca", "", "wss://: PEM file of the certificates to trust for the server (default: the system's)")
	fs.BoolVar(&o.Resume, "tls-resume", false, "wss://: keep session tickets and resume TLS sessions on later connections")
	fs.StringVar(&o.Curve, "tls-curve", "", "wss://: offer only this key exchange: x25519, p256 or x25519mlkem768 (default: Go's list, post-quantum hybrid first)")
	fs.IntVar(&o.worker, "worker-index", -1, "internal: run as worker N of a run")
	fs.StringVar(&o.runID, "run-id", "", "internal: the run's name, shared by its workers")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
		fs.Usage()
		return nil, flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil, &usageError{errors.New("a scenario comes first: " + scenarios)}
	}
	o.Scenario = args[0]
	pos, err := cli.Parse(fs, args[1:])
	if err == nil {
		err = cli.NoArgs(fs, args[1:], pos)
	}
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return nil, err
	}
	if err != nil {
		return nil, &usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, u := range splitList(urls) {
		if _, err := url.Parse(u); err != nil {
			return nil, fmt.Errorf("--url: %w", err)
		}
		o.URLs = append(o.URLs, u)
	}
	if o.Sources, err = parseSources(sources); err != nil {
		return nil, fmt.Errorf("--source-ips: %w", err)
	}
	for _, p := range splitList(pids) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("--server-pid: %w", err)
		}
		o.ServerPIDs = append(o.ServerPIDs, n)
	}
	o.Metrics = splitList(metrics)
	if len(o.Metrics) == 0 && o.Protocol == "duet" {
		for _, u := range o.URLs {
			if pu, err := url.Parse(u); err == nil {
				scheme := "http://"
				if pu.Scheme == "wss" {
					scheme = "https://"
				}
				o.Metrics = append(o.Metrics, scheme+pu.Host+"/metrics")
			}
		}
	}
	return o, o.check()
}

func (o *Options) check() error {
	switch o.Scenario {
	case "idle", "relay", "setup", "attack-header", "attack-byte", "handshake", "storm":
	case "quality":
		if o.Protocol != "duet" || o.ReportEvery <= 0 {
			return errors.New("quality: duet's protocol only, and --report-every must be positive")
		}
	default:
		return fmt.Errorf("unknown scenario %q: %s", o.Scenario, scenarios)
	}
	if _, err := dialectFor(o.Protocol); err != nil {
		return err
	}
	if len(o.URLs) == 0 {
		return errors.New("--url: at least one server URL is needed")
	}
	if o.Cross && len(o.URLs) < 2 {
		return errors.New("--cross needs at least two URLs")
	}
	switch {
	case o.usesConns() && (o.Conns < 2 || o.Conns%2 != 0):
		return fmt.Errorf("--conns must be an even number of at least 2, got %d", o.Conns)
	case !o.usesConns() && o.Pairs < 1:
		return fmt.Errorf("--pairs must be at least 1, got %d", o.Pairs)
	case o.sockets() > o.MaxConns:
		return fmt.Errorf("%d sockets exceed --max-conns %d", o.sockets(), o.MaxConns)
	case o.Window < 1:
		return fmt.Errorf("--window must be at least 1, got %d", o.Window)
	case o.Duration <= 0 || o.Warmup < 0 || o.Hold < 0 || o.Tick <= 0:
		return errors.New("--duration and --tick must be positive, --warmup and --hold not negative")
	case o.Parallel < 1:
		return fmt.Errorf("--parallel must be at least 1, got %d", o.Parallel)
	case o.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	var err error
	if o.tlsConf, err = o.clientTLS(); err != nil {
		return err
	}
	if o.Workers == 0 {
		o.Workers = (o.sockets() + 8999) / 9000
	}
	if o.Workers < 1 || o.Workers > o.pairs() {
		return fmt.Errorf("--workers must be between 1 and the number of pairs (%d), got %d", o.pairs(), o.Workers)
	}
	if per := (o.sockets() + o.Workers - 1) / o.Workers; per > perWorkerLimit {
		return fmt.Errorf("%d sockets per worker exceed the %d a process may hold here: use --workers %d or more",
			per, perWorkerLimit, (o.sockets()+perWorkerLimit-1)/perWorkerLimit)
	}
	if len(o.Sources) == 0 && o.Workers > 1 && loopbackTargets(o.URLs) {
		for i := 0; i < o.Workers; i++ {
			o.Sources = append(o.Sources, net.IPv4(127, 0, 0, byte(10+i%240)))
		}
	}
	return nil
}

func loopbackTargets(urls []string) bool {
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil {
			return false
		}
		ip := net.ParseIP(pu.Hostname())
		if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseSources(s string) ([]net.IP, error) {
	var out []net.IP
	for _, p := range splitList(s) {
		lo, hi, isRange := strings.Cut(p, "-")
		a := net.ParseIP(lo).To4()
		if a == nil {
			return nil, fmt.Errorf("not an IPv4 address: %q", lo)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b := net.ParseIP(hi).To4()
		if b == nil || !a[:3].Equal(b[:3]) || b[3] < a[3] {
			return nil, fmt.Errorf("bad range %q (same /24, low to high)", p)
		}
		for x := int(a[3]); x <= int(b[3]); x++ {
			out = append(out, net.IPv4(a[0], a[1], a[2], byte(x)))
		}
	}
	return out, nil
}

// Main runs `duet bench`. It returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "report" {
		return reportMain(args[1:], stdout, stderr)
	}
	o, err := parse(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return cli.Fail(stderr, "duet bench", ue.err)
	}
	if err != nil {
		fmt.Fprintln(stderr, "duet bench:", err)
		return 2
	}
	if o.worker >= 0 {
		return workerMain(ctx, o, os.Stdin, stdout, stderr)
	}
	s, err := Run(ctx, o, args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "duet bench:", err)
		return 1
	}
	s.print(stdout)
	if o.JSON != "" {
		b, _ := json.MarshalIndent(s, "", "  ")
		if o.JSON == "-" {
			fmt.Fprintln(stdout, string(b))
		} else if err := os.WriteFile(o.JSON, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "duet bench:", err)
			return 1
		}
	}
	if s.Errors > 0 {
		return 1
	}
	return 0
}

// event is a worker's report to the coordinator, one JSON line each.
type event struct {
	Type      string  `json:"type"` // progress, ready or result
	Worker    int     `json:"worker"`
	Connected int64   `json:"connected"`
	Done      int64   `json:"done"`
	Errors    int64   `json:"errors"`
	Result    *result `json:"result,omitempty"`
}

// result is one worker's figures.
type result struct {
	Connected   int64        `json:"connected"`
	ConnectSecs float64      `json:"connect_secs"`
	Count       int64        `json:"count"`
	Bytes       int64        `json:"bytes"`
	Resumed     int64        `json:"resumed,omitempty"`
	Storm       *stormResult `json:"storm,omitempty"`
	Errors      int64        `json:"errors"`
	FirstError  string       `json:"first_error,omitempty"`
	Lat         *hist        `json:"lat,omitempty"`
}

// worker runs its share of the pairs. ready is called once its sockets are
// up; go is closed to start measuring; stop ends an idle hold.
func worker(ctx context.Context, o *Options, idx int, run string, ready func(), goCh, stop <-chan struct{}, cn *counters) *result {
	d, _ := dialectFor(o.Protocol)
	total := o.pairs()
	first, end := idx*total/o.Workers, (idx+1)*total/o.Workers
	var src net.IP
	if len(o.Sources) > 0 {
		src = o.Sources[idx%len(o.Sources)]
	}
	dl := &dialer{d: d, urls: o.URLs, cross: o.Cross, src: src, tls: o.tlsConf, run: run, worker: idx}
	t0 := time.Now()
	if o.Scenario == "storm" {
		members := stormConnect(ctx, o, dl, first, end-first, cn)
		connected, secs := cn.connected.Load(), time.Since(t0).Seconds()
		ready()
		var r *result
		select {
		case <-goCh:
			r = storm(ctx, o, dl, members, cn)
		case <-ctx.Done():
			r = &result{}
		}
		r.Connected, r.ConnectSecs = connected, secs
		r.Errors, r.FirstError = cn.errs.get()
		return r
	}
	join := o.Scenario == "idle" || o.Scenario == "relay" || o.Scenario == "quality"
	var pairs []*pair
	if o.Scenario != "handshake" {
		pairs = dl.connectAll(ctx, first, end-first, o.Parallel, join, &cn.connected, &cn.errs)
	}
	if p := attackBytes(o.Scenario); p != nil {
		attack(pairs, p, cn)
	}
	r := &result{Connected: cn.connected.Load(), ConnectSecs: time.Since(t0).Seconds()}
	ready()
	var start time.Time
	select {
	case <-goCh:
		start = time.Now()
	case <-ctx.Done():
		closeAll(pairs)
		r.Errors, r.FirstError = cn.errs.get()
		return r
	}
	switch o.Scenario {
	case "idle", "attack-header", "attack-byte":
		hold(d, pairs, mergeDone(ctx, stop), cn)
	case "quality":
		done := mergeDone(ctx, stop)
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			reports(o, pairs, done, cn)
		}()
		hold(d, pairs, done, cn)
		<-sent
		r.Count = cn.done.Load()
	case "relay":
		r.Lat, r.Count, r.Bytes = relay(o, d, pairs, start, cn)
	case "setup":
		r.Lat, r.Count = setup(ctx, o, d, pairs, start, cn, run, idx)
		closeAll(pairs)
	case "handshake":
		r.Lat, r.Count, r.Resumed = handshakes(ctx, o, src, start, cn)
	}
	r.Errors, r.FirstError = cn.errs.get()
	return r
}

func mergeDone(ctx context.Context, stop <-chan struct{}) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		close(ch)
	}()
	return ch
}

// workerMain runs in a worker process: events go to stdout as JSON lines;
// "go" on stdin starts measuring and the end of stdin stops.
func workerMain(ctx context.Context, o *Options, stdin io.Reader, stdout, stderr io.Writer) int {
	raiseFileLimit()
	run := o.runID
	var wmu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(e event) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = enc.Encode(e)
	}
	goCh, stop := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdin)
		started := false
		for sc.Scan() {
			if sc.Text() == "go" && !started {
				started = true
				close(goCh)
			}
		}
		close(stop)
	}()
	cn := &counters{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				n, _ := cn.errs.get()
				emit(event{Type: "progress", Worker: o.worker, Connected: cn.connected.Load(), Done: cn.done.Load(), Errors: n})
			}
		}
	}()
	r := worker(ctx, o, o.worker, run, func() { emit(event{Type: "ready", Worker: o.worker}) }, goCh, stop, cn)
	close(done)
	emit(event{Type: "result", Worker: o.worker, Result: r})
	return 0
}

// handle is the coordinator's view of one worker.
type handle struct {
	ready  chan struct{}
	result chan *result
	start  func()
	stop   func()
	cn     *counters // in-process worker
	last   event     // latest progress of a process worker
}

// Run coordinates a run: it starts the workers, waits until every socket
// is up, measures, and returns the summary. args are the command-line
// arguments, passed on to worker processes. An attack with --waves > 1
// runs that many times over, each wave closing its sockets before the
// next; the server's memory is read after the last wave's hold against
// its memory before the first, so memory the first wave left behind and
// the next reused counts too.
func Run(ctx context.Context, o *Options, args []string, stderr io.Writer) (*Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	raiseFileLimit()
	s := &Summary{Scenario: o.Scenario, Protocol: o.Protocol, URLs: o.URLs, Sockets: o.sockets(), Workers: o.Workers,
		Duration: o.Duration.Seconds(), Window: o.Window, RateOffered: o.Rate}
	base := readServers(o)
	waves := 1
	if attackBytes(o.Scenario) != nil {
		waves = max(o.Waves, 1)
		s.Waves = waves
	}
	for w := 1; w <= waves; w++ {
		if err := runWave(ctx, o, args, stderr, s, base, w == waves); err != nil {
			return nil, err
		}
	}
	if s.Connected == 0 && o.Scenario != "handshake" {
		return nil, fmt.Errorf("no socket connected: %s", s.FirstError)
	}
	return s, nil
}

// runWave runs the workers once; last says to read the server's memory
// and keep the figures.
func runWave(ctx context.Context, o *Options, args []string, stderr io.Writer, s *Summary, base serverState, last bool) error {
	var idb [4]byte
	_, _ = rand.Read(idb[:])
	run := "b" + hex.EncodeToString(idb[:])
	var mu sync.Mutex
	hs := make([]*handle, o.Workers)
	for i := range hs {
		h := &handle{ready: make(chan struct{}), result: make(chan *result, 1)}
		hs[i] = h
		if o.Workers == 1 {
			h.cn = &counters{}
			goCh, stop := make(chan struct{}), make(chan struct{})
			h.start = sync.OnceFunc(func() { close(goCh) })
			h.stop = sync.OnceFunc(func() { close(stop) })
			go func() {
				h.result <- worker(ctx, o, i, run, func() { close(h.ready) }, goCh, stop, h.cn)
			}()
			continue
		}
		if err := startProcess(ctx, h, i, run, args, stderr, &mu); err != nil {
			for _, x := range hs[:i] {
				x.stop()
			}
			return err
		}
	}
	progress := func() string {
		mu.Lock()
		defer mu.Unlock()
		var c, d, e int64
		for _, h := range hs {
			if h.cn != nil {
				n, _ := h.cn.errs.get()
				c, d, e = c+h.cn.connected.Load(), d+h.cn.done.Load(), e+n
			} else {
				c, d, e = c+h.last.Connected, d+h.last.Done, e+h.last.Errors
			}
		}
		unit := map[string]string{"idle": "", "relay": " messages", "setup": " setups", "quality": " reports", "storm": " members back", "handshake": " handshakes"}[o.Scenario]
		line := fmt.Sprintf("%d/%d sockets", c, o.sockets())
		if unit != "" {
			line += fmt.Sprintf(", %d%s", d, unit)
		}
		return line + fmt.Sprintf(", %d errors", e)
	}
	stopProgress := showProgress(o, stderr, progress)
	defer stopProgress()
	for _, h := range hs {
		select {
		case <-h.ready:
		case r := <-h.result:
			h.result <- r
			return fmt.Errorf("a worker ended before connecting: %s", r.FirstError)
		case <-ctx.Done():
			return fmt.Errorf("connecting: %w", ctx.Err())
		}
	}
	if o.ReadyFile != "" {
		if err := os.WriteFile(o.ReadyFile, []byte("ready\n"), 0o644); err != nil {
			return err
		}
	}
	for _, h := range hs {
		h.start()
	}
	cpu := make(chan float64, 1)
	if o.Scenario == "handshake" && last {
		go func() { cpu <- measureCPU(ctx, o) }()
	}
	if o.holds() {
		held := readServers(o)
		select {
		case <-time.After(o.Hold):
		case <-ctx.Done():
		}
		if last {
			after := readServers(o)
			s.idleFigures(o, base, after)
			s.holdCPUFigures(held, after)
		}
		for _, h := range hs {
			h.stop()
		}
	}
	var results []*result
	for _, h := range hs {
		select {
		case r := <-h.result:
			results = append(results, r)
		case <-ctx.Done():
			return fmt.Errorf("waiting for workers: %w", ctx.Err())
		}
		if !o.holds() {
			h.stop()
		}
	}
	if last {
		s.merge(o, results)
		if o.Scenario == "handshake" {
			s.cpuFigures(<-cpu)
		}
	}
	return nil
}

// measureCPU reads the servers' CPU time over the measured window (the
// warm-up after the start, then the duration); -1 when it cannot.
func measureCPU(ctx context.Context, o *Options) float64 {
	sleep := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !sleep(o.Warmup) {
		return -1
	}
	c0 := cpuSeconds(o.ServerPIDs)
	if !sleep(o.Duration) || c0 < 0 {
		return -1
	}
	c1 := cpuSeconds(o.ServerPIDs)
	if c1 < 0 {
		return -1
	}
	return c1 - c0
}

func startProcess(ctx context.Context, h *handle, i int, run string, args []string, stderr io.Writer, mu *sync.Mutex) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	wargs := append([]string{"bench"}, args...)
	wargs = append(wargs, "--worker-index", strconv.Itoa(i), "--run-id", run, "--quiet")
	cmd := exec.CommandContext(ctx, exe, wargs...)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var once sync.Once
	h.start = func() { _, _ = io.WriteString(in, "go\n") }
	h.stop = func() { once.Do(func() { in.Close() }) }
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		var got *result
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			switch e.Type {
			case "progress":
				mu.Lock()
				h.last = e
				mu.Unlock()
			case "ready":
				close(h.ready)
			case "result":
				got = e.Result
			}
		}
		err := cmd.Wait()
		if got == nil {
			got = &result{Errors: 1, FirstError: fmt.Sprintf("worker %d ended without a result: %v", i, err)}
		}
		h.result <- got
	}()
	return nil
}

func showProgress(o *Options, w io.Writer, line func() string) func() {
	if o.Quiet {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	t0 := time.Now()
	// On a terminal the line is redrawn every second; elsewhere (a log) a
	// line is written every five.
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	every := 5 * time.Second
	if tty {
		every = time.Second
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprintf(w, "\r%s %5.0fs  %s   ", o.Scenario, time.Since(t0).Seconds(), line())
				} else {
					fmt.Fprintf(w, "%s %5.0fs  %s\n", o.Scenario, time.Since(t0).Seconds(), line())
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// clientTLS is the TLS configuration of wss:// dials.
func (o *Options) clientTLS() (*tls.Config, error) {
	c := &tls.Config{InsecureSkipVerify: o.Insecure} //nolint:gosec // a flag for test servers
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: no PEM certificate in %s", o.CAFile)
		}
	}
	if o.Resume {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(o.sockets())
	}
	switch o.Curve {
	case "":
	case "x25519":
		c.CurvePreferences = []tls.CurveID{tls.X25519}
	case "p256":
		c.CurvePreferences = []tls.CurveID{tls.CurveP256}
	case "x25519mlkem768":
		c.CurvePreferences = []tls.CurveID{tls.X25519MLKEM768}
	default:
		return nil, fmt.Errorf("--tls-curve: unknown key exchange %q (x25519, p256 or x25519mlkem768)", o.Curve)
	}
	return c, nil
}
