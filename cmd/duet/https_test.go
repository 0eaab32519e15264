package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/syncbuf"

	"github.com/gorilla/websocket"
	"github.com/skip2/go-qrcode"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// tlsNode is a running duet binary whose stdout and JSON log are kept.
type tlsNode struct {
	cmd            *exec.Cmd
	addr, httpAddr string
	stdout         *syncbuf.Buffer
}

func startTLSNode(t *testing.T, bin string, args ...string) *tlsNode {
	t.Helper()
	n := &tlsNode{stdout: &syncbuf.Buffer{}}
	n.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--drain-timeout", "3s"}, args...)...)
	n.cmd.Stdout = n.stdout
	stderr, _ := n.cmd.StderrPipe()
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.cmd.Process.Kill(); n.cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for n.addr == "" && lines.Scan() {
		var rec map[string]any
		if json.Unmarshal(lines.Bytes(), &rec) != nil {
			continue
		}
		switch rec["msg"] {
		case "redirecting HTTP to HTTPS":
			n.httpAddr, _ = rec["addr"].(string)
		case "duet listening":
			n.addr, _ = rec["addr"].(string)
		}
	}
	if n.addr == "" {
		t.Fatalf("duet %v did not start", args)
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return n
}

// fingerprint waits for the printed fingerprint.
func (n *tlsNode) fingerprint(t *testing.T) string {
	t.Helper()
	re := regexp.MustCompile(`SHA-256 fingerprint: ([0-9A-F:]{95})`)
	var m []string
	wstest.Eventually(t, "the fingerprint on stdout", func() bool {
		m = re.FindStringSubmatch(n.stdout.String())
		return m != nil
	})
	return m[1]
}

// served returns the certificate the server shows to a client that
// trusts nothing yet, as a browser before the warning is accepted.
func (n *tlsNode) served(t *testing.T) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", n.addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// TestSelfSignedServe: `duet serve --tls-self-signed` prints the
// fingerprint of the certificate it serves and the URL to open; a client
// that accepted that certificate makes a call over wss:// on the same port;
// the plain-HTTP port redirects; the health check finds the server from the
// same flags; a restart serves the same certificate from data_dir.
func TestSelfSignedServe(t *testing.T) {
	bin := buildDuet(t)
	dataDir := t.TempDir()
	args := []string{"--tls-self-signed", "--data-dir", dataDir, "--http-listen", "127.0.0.1:0"}
	n := startTLSNode(t, bin, args...)

	fp := n.fingerprint(t)
	leaf := n.served(t)
	if sum := sha256.Sum256(leaf.Raw); fp != colonHex(sum[:]) {
		t.Fatalf("printed fingerprint %s, served certificate's %s", fp, colonHex(sum[:]))
	}
	_, port, _ := net.SplitHostPort(n.addr)
	if out := n.stdout.String(); !regexp.MustCompile(`open on this machine: +https://localhost:` + port + `/\?room=[a-z2-9]{8}\n`).MatchString(out) {
		t.Fatalf("stdout lacks the URL to open:\n%s", out)
	}

	// The person accepted the certificate: trust exactly it.
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	dial := func() *wstest.Client {
		ws, _, err := d.Dial("wss://"+n.addr+"/WebRTCAppEE/websocket", nil)
		if err != nil {
			t.Fatalf("wss: %v", err)
		}
		t.Cleanup(func() { ws.Close() })
		return &wstest.Client{T: t, WS: ws}
	}
	a, b := dial(), dial()
	wstest.Pair(a, b, "lan")
	b.Send(wstest.Msg{"command": "takeCandidate", "streamId": "lan", "label": 0, "id": "0", "candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host"})
	a.Expect("takeCandidate", "")

	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get("http://" + n.httpAddr + "/?room=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://127.0.0.1:" + port + "/?room=x"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("redirect port: %d %q, want 308 %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// The health check, given the server's own flags (here with the TLS
	// port only), asks it over https.
	if out, err := exec.Command(bin, "healthcheck", "--tls-self-signed", "--data-dir", dataDir, "--listen", n.addr).CombinedOutput(); err != nil {
		t.Fatalf("healthcheck: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "https://"+n.addr+"/healthz: ok") {
		t.Fatalf("healthcheck said %q", out)
	}

	a.WS.Close()
	b.WS.Close()
	n.cmd.Process.Signal(syscall.SIGTERM)
	if err := n.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if out, err := exec.Command(bin, "healthcheck", "--listen", n.addr, "--timeout", "2s").CombinedOutput(); err == nil {
		t.Fatalf("healthcheck of a stopped server passed: %s", out)
	}

	again := startTLSNode(t, bin, args...)
	if again.fingerprint(t) != fp || !again.served(t).Equal(leaf) {
		t.Fatal("a restart with the same data_dir served another certificate")
	}
	// The certificate, its key and the session-ticket secret, each kept
	// and reused by the restart: nothing more.
	files, _ := filepath.Glob(filepath.Join(dataDir, "tls", "*"))
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	if want := []string{"self-signed.crt", "self-signed.key", "session-ticket.secret"}; !slices.Equal(files, want) {
		t.Fatalf("data_dir/tls holds %v, want %v", files, want)
	}
}

// TestAnnounceOnEveryAddress: listening on every address, the URLs for
// another device are this machine's LAN addresses.
func TestAnnounceOnEveryAddress(t *testing.T) {
	src, err := certs.New(config.Config{TLSSelfSigned: true, DataDir: t.TempDir(), TLSHSTS: "auto"}, certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	announceSelfSigned(&out, discardLog(), src.SelfSigned, &net.TCPAddr{IP: net.IPv6unspecified, Port: 5080})
	text := out.String()
	room := regexp.MustCompile(`localhost:5080/\?room=([a-z2-9]{8})`).FindStringSubmatch(text)
	if room == nil {
		t.Fatalf("no local URL:\n%s", text)
	}
	lan := certs.LANAddrs(certs.LocalHosts())
	if len(lan) == 0 {
		t.Skip("this machine has no LAN address")
	}
	for _, ip := range lan {
		u := fmt.Sprintf("https://%s/?room=%s", net.JoinHostPort(ip.String(), "5080"), room[1])
		if !strings.Contains(text, u) {
			t.Errorf("no %s in:\n%s", u, text)
		}
	}
	if !strings.Contains(text, "open on another device:") {
		t.Errorf("no label:\n%s", text)
	}
}

func TestHealthURL(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		url, cname string
	}{
		{nil, "http://127.0.0.1:5080/healthz", ""},
		{[]string{"--listen", "10.1.2.3:7000"}, "http://10.1.2.3:7000/healthz", ""},
		{[]string{"--listen", "[::]:7000", "--tls-self-signed"}, "https://127.0.0.1:7000/healthz", ""},
		{[]string{"--listen", ":443", "--tls-acme-domains", "call.example.com"}, "https://127.0.0.1:443/healthz", "call.example.com"},
		{[]string{"--listen", ":443", "--http-listen", ":80", "--tls-acme-domains", "call.example.com"}, "http://127.0.0.1:80/healthz", ""},
	} {
		fs := newFlagSet()
		cfg, err := config.Load(fs, tc.args, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if url, cname := healthURL(cfg); url != tc.url || cname != tc.cname {
			t.Errorf("%v: %s %q, want %s %q", tc.args, url, cname, tc.url, tc.cname)
		}
	}
}

func colonHex(b []byte) string {
	s := make([]string, len(b))
	for i, c := range b {
		s[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(s, ":")
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// TestRenderQR reads the drawn code back, two modules a character, and
// compares it with the code's modules: a phone's camera sees what the
// encoder made.
func TestRenderQR(t *testing.T) {
	const url = "https://192.168.1.23:5080/?room=a3im3eq8"
	q, err := qrcode.New(url, qrcode.Low)
	if err != nil {
		t.Fatal(err)
	}
	want := q.Bitmap()
	lines := strings.Split(strings.TrimSuffix(renderQR(url), "\n"), "\n")
	if len(lines) != (len(want)+1)/2 {
		t.Fatalf("%d lines for %d rows", len(lines), len(want))
	}
	for i, line := range lines {
		cells := []rune(strings.TrimPrefix(line, "  "))
		if len(cells) != len(want[0]) {
			t.Fatalf("line %d has %d cells, want %d", i, len(cells), len(want[0]))
		}
		for x, c := range cells {
			top, bottom := c == '█' || c == '▀', c == '█' || c == '▄' // light modules
			if top == want[2*i][x] || 2*i+1 < len(want) && bottom == want[2*i+1][x] {
				t.Fatalf("module (%d,%d) drawn wrong", x, 2*i)
			}
		}
	}
	var out bytes.Buffer
	printQR(&out, url)
	if out.Len() != 0 {
		t.Fatal("a QR code drawn into something that is not a terminal")
	}
}

// TestAnnouncePlain: without TLS, the start line says which page to open
// in two tabs, on this machine and on the LAN's addresses, and where apps
// connect.
func TestAnnouncePlain(t *testing.T) {
	var out bytes.Buffer
	announcePlain(&out, &net.TCPAddr{IP: net.IPv6unspecified, Port: 5080})
	text := out.String()
	room := regexp.MustCompile(`open on this machine: +http://localhost:5080/\?room=([a-z2-9]{8})\n`).FindStringSubmatch(text)
	if room == nil || !strings.Contains(text, "open this page in two browser tabs") ||
		!strings.Contains(text, "ws://localhost:5080/WebRTCAppEE/websocket") {
		t.Fatalf("start line:\n%s", text)
	}
	for _, ip := range certs.LANAddrs(certs.LocalHosts()) {
		if u := fmt.Sprintf("http://%s/?room=%s", net.JoinHostPort(ip.String(), "5080"), room[1]); !strings.Contains(text, u) {
			t.Errorf("no %s in:\n%s", u, text)
		}
	}
	out.Reset()
	announcePlain(&out, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5080})
	if !strings.Contains(out.String(), "listening on loopback only") || strings.Contains(out.String(), "another device:") {
		t.Errorf("loopback:\n%s", out.String())
	}
}
