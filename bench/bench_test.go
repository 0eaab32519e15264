package bench

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/bench/barerelay"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

// quick returns options for a run of a fraction of a second (two for
// setup: a call setup is several round trips, and on a starved machine
// none completed within 400 ms).
func quick(t *testing.T, scenario, protocol, url string) *Options {
	t.Helper()
	dur := "400ms"
	if scenario == "setup" {
		dur = "2s"
	}
	args := []string{scenario, "--protocol", protocol, "--url", url, "--conns", "40", "--pairs", "4",
		"--duration", dur, "--warmup", "100ms", "--hold", "100ms", "--workers", "1", "--timeout", "60s"}
	o, err := parse(args, testWriter{t})
	if err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	o.Quiet = true
	return o
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// runAll runs the three scenarios against one server and checks each did
// real work without errors.
func runAll(t *testing.T, protocol, url string, pid int) map[string]*Summary {
	t.Helper()
	out := map[string]*Summary{}
	for _, sc := range []string{"idle", "relay", "setup"} {
		o := quick(t, sc, protocol, url)
		if pid > 0 {
			o.ServerPIDs = []int{pid}
		}
		s, err := Run(context.Background(), o, nil, testWriter{t})
		if err != nil {
			t.Fatalf("%s %s: %v", protocol, sc, err)
		}
		var b strings.Builder
		s.print(&b)
		t.Logf("%s", b.String())
		if s.Errors != 0 || s.Connected != int64(o.sockets()) {
			t.Fatalf("%s %s: %d of %d sockets, %d errors (%s)", protocol, sc, s.Connected, o.sockets(), s.Errors, s.FirstError)
		}
		switch sc {
		case "idle":
			if pid > 0 && s.RSSBytes <= 0 {
				t.Errorf("%s idle: no server RSS read", protocol)
			}
		default:
			if s.PerSec <= 0 || s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
				t.Errorf("%s %s: implausible figures %+v", protocol, sc, s)
			}
		}
		out[sc] = s
	}
	return out
}

func TestDuet(t *testing.T) {
	cfg := testserver.Config()
	cfg.RateLimit = 0
	srv := testserver.Start(t, cfg, server.Options{})
	o := quick(t, "idle", "duet", srv.URL("App"))
	if len(o.Metrics) != 1 || o.Metrics[0] != srv.HTTP()+"/metrics" {
		t.Fatalf("metrics URL derived as %v", o.Metrics)
	}
	res := runAll(t, "duet", srv.URL("App"), os.Getpid())
	if g := res["idle"].GoroutinesPerS; g <= 0 || g > 3 {
		t.Errorf("goroutines per idle socket = %.2f, want about 1", g)
	}
	// Every room was left or closed: the server is empty again.
	wstest.Eventually(t, "rooms empty", func() bool { return srv.Rooms().Stats().Rooms == 0 })
}

func TestBareRelays(t *testing.T) {
	eng := barerelay.NewEngine()
	defer eng.Close()
	for name, h := range map[string]http.Handler{"engine": eng, "gorilla": barerelay.NewGorilla()} {
		t.Run(name, func(t *testing.T) {
			ts := httptest.NewServer(h)
			defer ts.Close()
			runAll(t, "bare", "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", 0)
		})
	}
}

// TestPeerJS drives the real PeerJS server (npm package peer, installed by
// scripts/deps.sh) through its own protocol.
func TestPeerJS(t *testing.T) {
	if _, err := os.Stat("peerjs/node_modules/peer"); err != nil {
		t.Fatal("the PeerJS server is not installed: run make deps (scripts/deps.sh)")
	}
	cmd := exec.Command("node", "peerjs/server.mjs", "127.0.0.1", "0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "peerjs listening on "); ok {
				addr <- a
			}
		}
	}()
	var a string
	select {
	case a = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatal("the PeerJS server did not start")
	}
	runAll(t, "peerjs", "ws://"+a+"/", cmd.Process.Pid)
}

func TestReport(t *testing.T) {
	cfg := testserver.Config()
	cfg.RateLimit = 0
	srv := testserver.Start(t, cfg, server.Options{})
	dir, svgs := t.TempDir(), t.TempDir()
	runs := []struct {
		file string
		args []string
	}{
		{"relay-duet", []string{"relay", "--pairs", "2"}},
		{"relay-half-duet", []string{"relay", "--pairs", "2", "--rate", "2000"}},
		{"setup-duet", []string{"setup", "--pairs", "2"}},
		{"idle-4-duet", []string{"idle", "--conns", "4"}},
		{"idle-8-duet", []string{"idle", "--conns", "8"}},
		{"attack-header-duet", []string{"attack-header", "--conns", "4", "--waves", "2"}},
		{"attack-byte-duet", []string{"attack-byte", "--conns", "4"}},
	}
	for _, r := range runs {
		var out strings.Builder
		args := append(r.args, "--quiet", "--json", filepath.Join(dir, r.file+".json"), "--workers", "1",
			"--url", srv.URL("App"), "--duration", "300ms", "--warmup", "50ms", "--hold", "50ms", "--server-pid", strconv.Itoa(os.Getpid()))
		if code := Main(context.Background(), args, &out, testWriter{t}); code != 0 {
			t.Fatalf("%v exited %d: %s", r.args, code, out.String())
		}
	}
	md, err := report(dir, "", "", "test", svgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| relay, 2 pairs, window 16 | messages/s |", "| setup, 2 pairs | call setups/s |",
		"| attack-header, 4 sockets, 2 waves | server RSS per attacking socket (KiB) |", "| attack-byte, 4 sockets | server RSS per attacking socket (KiB) |",
		"](bench-memory.svg)", "](bench-latency.svg)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, f := range []string{"bench-memory.svg", "bench-latency.svg"} {
		b, err := os.ReadFile(filepath.Join(svgs, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "<svg") || !strings.Contains(string(b), "<polyline") || !strings.Contains(string(b), ">duet</text>") {
			t.Errorf("%s is not a plot of duet's figures:\n%.400s", f, b)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "a scenario comes first"},
		{[]string{"dance"}, "unknown scenario"},
		{[]string{"idle", "--conns", "3"}, "even number"},
		{[]string{"relay", "--pairs", "0"}, "--pairs must be at least 1"},
		{[]string{"idle", "--conns", "300000"}, "exceed --max-conns"},
		{[]string{"idle", "--conns", "40000", "--workers", "2"}, "use --workers 3"},
		{[]string{"relay", "--protocol", "sip"}, "unknown target protocol"},
		{[]string{"relay", "--cross"}, "--cross needs at least two URLs"},
		{[]string{"relay", "--source-ips", "127.0.0.9-127.0.0.2"}, "bad range"},
	} {
		_, err := parse(tc.args, testWriter{t})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parse %v: got %v, want %q", tc.args, err, tc.want)
		}
	}
	o, err := parse([]string{"idle", "--conns", "36000", "--url", "ws://127.0.0.1:1/a"}, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if o.Workers != 4 || len(o.Sources) != 4 || !o.Sources[3].Equal(net.IPv4(127, 0, 0, 13)) {
		t.Errorf("36000 sockets: %d workers, sources %v", o.Workers, o.Sources)
	}
}

func TestHist(t *testing.T) {
	h := newHist()
	for i := 1; i <= 100000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		got, want := h.quantile(q), time.Duration(q*100000)*time.Microsecond
		if d := float64(got-want) / float64(want); d < -0.04 || d > 0.04 {
			t.Errorf("q%.3f = %v, want %v within 4%%", q, got, want)
		}
	}
	if h.quantile(1) != 100*time.Millisecond {
		t.Errorf("max quantile = %v", h.quantile(1))
	}
}

// TestWSS: the generator speaks wss://, and its handshake scenario counts
// full and resumed TLS handshakes and the server's CPU per handshake.
func TestWSS(t *testing.T) {
	dir := t.TempDir()
	cfg := testserver.Config()
	cfg.RateLimit = 0
	cfg.TLSCert, cfg.TLSKey = writeCert(t, dir)
	srv := testserver.Start(t, cfg, server.Options{})
	url := strings.Replace(srv.URL("App"), "ws://", "wss://", 1)
	o := quick(t, "idle", "duet", url)
	o.Insecure = true
	o.tlsConf, _ = o.clientTLS()
	o.ServerPIDs = []int{os.Getpid()}
	s, err := Run(context.Background(), o, nil, testWriter{t})
	if err != nil || s.Errors != 0 || s.Connected != 40 {
		t.Fatalf("idle over wss: %v %+v", err, s)
	}
	for _, resume := range []bool{false, true} {
		args := []string{"handshake", "--url", url, "--insecure", "--parallel", "4", "--duration", "500ms",
			"--warmup", "100ms", "--server-pid", strconv.Itoa(os.Getpid()), "--timeout", "60s"}
		if resume {
			args = append(args, "--tls-resume")
		}
		o, err := parse(args, testWriter{t})
		if err != nil {
			t.Fatal(err)
		}
		o.Quiet = true
		s, err := Run(context.Background(), o, nil, testWriter{t})
		if err != nil || s.Errors != 0 || s.PerSec <= 0 || s.P50 <= 0 {
			t.Fatalf("handshakes (resume %v): %v %+v", resume, err, s)
		}
		// With --tls-resume only a dialer's first handshake is a full one.
		if n := int64(s.PerSec*s.Duration + 0.5); resume && (s.Resumed == 0 || s.Resumed < n-4) || !resume && s.Resumed != 0 {
			t.Errorf("resume %v: %d of %d handshakes resumed", resume, s.Resumed, n)
		}
		if s.ServerCPU <= 0 || s.PerCore <= 0 {
			t.Errorf("no server CPU figures: %+v", s)
		}
	}
}

func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestStorm: members in calls lose their server, which comes back on its
// address; every one rejoins within the spread, learns its partner's
// session again, and none hears stop.
func TestStorm(t *testing.T) {
	cfg := testserver.Config()
	cfg.RateLimit = 0
	cfg.DrainTimeout = 10 * time.Millisecond // the drain closes every socket at once
	srv := testserver.Start(t, cfg, server.Options{})
	ready := filepath.Join(t.TempDir(), "ready")
	o, err := parse([]string{"storm", "--url", srv.URL("App"), "--conns", "40", "--workers", "1", "--spread", "300ms",
		"--storm-wait", "30s", "--ready-file", ready, "--timeout", "60s"}, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	o.Quiet = true
	res := make(chan *Summary, 1)
	go func() {
		s, err := Run(context.Background(), o, nil, testWriter{t})
		if err != nil {
			t.Error(err)
		}
		res <- s
	}()
	wstest.Eventually(t, "every member joined", func() bool { _, err := os.Stat(ready); return err == nil })
	srv.Stop(t)
	testserver.StartOn(t, srv.Addr, cfg, server.Options{})
	s := <-res
	if s == nil {
		t.FailNow()
	}
	var b strings.Builder
	s.print(&b)
	t.Log(b.String())
	if s.StormLost != 40 || s.StormBack != 40 || s.StormStops != 0 || s.StormKnowPartner != 40 || s.Errors != 0 {
		t.Fatalf("storm: %+v", s)
	}
}
