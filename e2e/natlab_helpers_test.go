package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/netlab"
)

// The NAT lab of the browser tests: sites behind NATs and firewalls in
// network namespaces (internal/testkit/netlab), the real duet binary on
// the lab's internet serving HTTPS, WebSockets and TURN over TLS on 443
// (TURN over UDP and TCP on 3478), and peers in the sites: Chromium
// running the demo page or Ant Media's SDK, and `duet peer`.

// natPrefix names every namespace and link of the lab.
const natPrefix = "dn21w"

type natLab struct {
	lab    *netlab.Lab
	bin    string
	origin string // https://SERVER: the demo page, signaling on 443
	ams    string // https://SERVER:8443: Ant Media's SDK page
	spki   string // the certificate's key, for Chromium
	caFile string // the certificate, for Go peers (SSL_CERT_FILE)
	proc   *duetProc
}

// newNATLab builds the lab and starts duet on its server address.
func newNATLab(t testing.TB, extra ...string) *natLab {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Fatal(err) // the suite runs as root (make test)
	}
	l := &natLab{lab: netlab.NewLab(t, natPrefix), bin: buildDuet(t)}
	dir := t.TempDir()
	certFile, keyFile, leaf := writeCert(t, dir, l.lab.Server)
	l.spki, l.caFile = spkiHash(leaf), certFile
	server := l.lab.Server.String()
	args := append([]string{"--tls-cert", certFile, "--tls-key", keyFile, "--data-dir", dir,
		"--turn-enabled", "--turn-listen", server + ":3478", "--turn-tls-listen", server + ":443",
		"--turn-public-ip", server, "--turn-relay-address", server, "--turn-allowed-peers", l.lab.Public.String(),
		"--drain-timeout", "3s"}, extra...)
	l.proc = startDuet(t, l.bin, server+":443", args...)
	l.origin = "https://" + server
	l.ams = l.serveAMS(t, certFile, keyFile)
	return l
}

// serveAMS serves Ant Media's SDK page over HTTPS on port 8443 of the
// server address (duet's binary serves only duet's pages).
func (l *natLab) serveAMS(t testing.TB, certFile, keyFile string) string {
	t.Helper()
	mux := http.NewServeMux()
	amsMount(t, amsPage)(mux)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", netip.AddrPortFrom(l.lab.Server, 8443).String(), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "https://" + ln.Addr().String()
}

// writeCert writes a self-signed certificate for ip and its key.
func writeCert(t testing.TB, dir string, ip netip.Addr) (certFile, keyFile string, leaf *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(21), Subject: pkix.Name{CommonName: "duet NAT lab"},
		IPAddresses: []net.IP{ip.AsSlice()}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "lab-cert.pem"), filepath.Join(dir, "lab-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	leaf, _ = x509.ParseCertificate(der)
	return certFile, keyFile, leaf
}

// browser starts Chromium in site s, trusting the lab's certificate as a
// person who accepted it once would.
func (l *natLab) browser(t testing.TB, s *netlab.Site) context.Context {
	t.Helper()
	return browsertest.Browser(t,
		chromedp.Flag("ignore-certificate-errors-spki-list", l.spki),
		chromedp.Flag("allow-loopback-in-peer-connection", false), // loopback leads nowhere from a site
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { s.Command(cmd) }))
}

// demoURL is the demo page for room.
func (l *natLab) demoURL(room string) string { return l.origin + "/?room=" + room }

// amsURL is Ant Media's SDK page for room, signaling to duet on 443.
func (l *natLab) amsURL(room string) string {
	return fmt.Sprintf("%s/ams-test/page.html?room=%s&ws=wss://%s/WebRTCAppEE/websocket", l.ams, room, l.lab.Server)
}

// candidate is one end of a selected candidate pair.
type candidate struct {
	Type          string `json:"type"` // host, srflx, prflx, relay
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relayProtocol"` // udp, tcp, tls for a local relay candidate
	Address       string `json:"address"`
	URL           string `json:"url"` // the TURN or STUN server of a local candidate
}

// candidatePair is a selected candidate pair as getStats shows it.
type candidatePair struct {
	Local  candidate `json:"local"`
	Remote candidate `json:"remote"`
}

func (p candidatePair) String() string {
	s := fmt.Sprintf("local %s/%s %s", p.Local.Type, p.Local.Protocol, p.Local.Address)
	if p.Local.Type == "relay" {
		s += fmt.Sprintf(" (TURN over %s, %s)", p.Local.RelayProtocol, p.Local.URL)
	}
	return s + fmt.Sprintf(" ↔ remote %s %s", p.Remote.Type, p.Remote.Address)
}

// selectedPairJS reads the selected candidate pair of the peer connection
// pc (a JavaScript expression) from getStats, as JSON (empty before one
// is selected).
func selectedPairJS(pc string) string {
	return `(async (pc) => {
  if (!pc) return '';
  const s = await pc.getStats();
  let pair = null;
  s.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = s.get(r.selectedCandidatePairId); });
  if (!pair) return '';
  const l = s.get(pair.localCandidateId), r = s.get(pair.remoteCandidateId);
  return JSON.stringify({
    local: {type: l.candidateType, protocol: l.protocol, relayProtocol: l.relayProtocol || '', address: l.address, url: l.url || ''},
    remote: {type: r.candidateType, protocol: r.protocol, address: r.address},
  });
})(` + pc + `)`
}

// waitPair polls the selected pair of pc in tab until want accepts it
// (ICE may begin on one pair and move to a better one), and fails with
// the last one seen otherwise.
func waitPair(t testing.TB, tab context.Context, pc, who string, want func(candidatePair) bool) candidatePair {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last candidatePair
	for {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](selectedPairJS(pc), chromedp.EvalAwaitPromise))
		if err == nil && s != "" {
			last = candidatePair{}
			if json.Unmarshal([]byte(s), &last) == nil && want(last) {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: selected pair %v (err %v): not the one expected", who, last, err)
		}
		time.Sleep(250 * time.Millisecond) // polling interval of a condition wait
	}
}

// goPeer is `duet peer` running in a site, its stdin kept open.
type goPeer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	events []map[string]any
	got    chan map[string]any // every event, as it comes
}

// startGoPeer runs `duet peer` in site s for room, trusting the lab's
// certificate through SSL_CERT_FILE.
func (l *natLab) startGoPeer(t testing.TB, s *netlab.Site, room string) *goPeer {
	t.Helper()
	cmd := exec.Command(l.bin, "peer", "--url", fmt.Sprintf("wss://%s/WebRTCAppEE/websocket", l.lab.Server), "--room", room, "--json")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+l.caFile)
	s.Command(cmd)
	stdin, _ := cmd.StdinPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &goPeer{cmd: cmd, stdin: stdin, got: make(chan map[string]any, 256)}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			g.mu.Lock()
			g.events = append(g.events, ev)
			g.mu.Unlock()
			select {
			case g.got <- ev:
			default:
			}
		}
		close(g.got)
	}()
	return g
}

// wait returns the first event of kind, failing after 30 s or when the
// peer exits.
func (g *goPeer) wait(t testing.TB, kind string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-g.got:
			if !ok {
				t.Fatalf("duet peer ended before %q: %v", kind, g.log())
			}
			if ev["event"] == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("duet peer: no %q event in 30 s: %v", kind, g.log())
		}
	}
}

func (g *goPeer) log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	for _, ev := range g.events {
		j, _ := json.Marshal(ev)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// goPair is the Go peer's selected pair from its "path" event.
func goPair(ev map[string]any) candidatePair {
	s := func(k string) string { v, _ := ev[k].(string); return v }
	return candidatePair{
		Local:  candidate{Type: s("local"), Protocol: s("protocol"), RelayProtocol: s("relay_protocol"), Address: s("local_address"), URL: s("url")},
		Remote: candidate{Type: s("remote"), Address: s("remote_address")},
	}
}
