package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// iceAnswer asks a duet server for ICE servers as the SDKs do.
func iceAnswer(t *testing.T, url string) (uris []string, user, pass string) {
	t.Helper()
	c := wstest.Dial(t, url)
	defer c.WS.Close()
	c.Send(wstest.Msg{"command": "getIceServerConfig"})
	m := c.Expect("iceServerConfig", "")
	raw, _ := json.Marshal(m["iceServers"])
	var list []struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username"`
		Credential string   `json:"credential"`
	}
	json.Unmarshal(raw, &list)
	for _, s := range list {
		uris = append(uris, s.URLs...)
		if s.Username != "" {
			user, pass = s.Username, s.Credential
		}
	}
	if user == "" {
		t.Fatalf("no TURN credential in %v", m)
	}
	return uris, user, pass
}

// uriAddr is host:port of the first URI with prefix (e.g. "turn:" … "transport=udp").
func uriAddr(t *testing.T, uris []string, scheme, transport string) string {
	t.Helper()
	for _, u := range uris {
		if strings.HasPrefix(u, scheme+":") && strings.HasSuffix(u, "?transport="+transport) {
			return strings.TrimSuffix(strings.TrimPrefix(u, scheme+":"), "?transport="+transport)
		}
	}
	t.Fatalf("no %s: URI over %s in %v", scheme, transport, uris)
	return ""
}

// allocation is a TURN client with one relay socket and a loopback peer
// it has sent to, so that the peer may answer.
type allocation struct {
	client *turn.Client
	relay  net.PacketConn
	peer   net.PacketConn
}

// allocate allocates on the TURN server at addr, over UDP, or over TLS
// with tlsOn, with the given credential, and relays a first datagram.
func allocate(t *testing.T, addr, user, pass string, tlsOn bool) (*allocation, error) {
	t.Helper()
	var conn net.PacketConn
	if tlsOn {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the self-signed certificate
		if err != nil {
			return nil, err
		}
		conn = turn.NewSTUNConn(c)
	} else {
		var err error
		if conn, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "duet", RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		return nil, err
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close(); peer.Close() })
	a := &allocation{client: c, relay: relay, peer: peer}
	a.roundTrip(t, "first")
	return a, nil
}

// roundTrip sends msg from the client through the relay to the peer and
// back.
func (a *allocation) roundTrip(t *testing.T, msg string) {
	t.Helper()
	buf := make([]byte, 256)
	if _, err := a.relay.WriteTo([]byte(msg), a.peer.LocalAddr()); err != nil {
		t.Fatalf("%s: relay write: %v", msg, err)
	}
	a.peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := a.peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("%s: peer got %q %v", msg, buf[:n], err)
	}
	a.peer.WriteTo([]byte("re:"+msg), from)
	a.relay.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err = a.relay.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "re:"+msg {
		t.Fatalf("%s: client got %q %v", msg, buf[:n], err)
	}
}

// loopbackPeers lets a TURN server on loopback relay to the test's peer
// sockets there: loopback is private, and the server's own address, which
// it reaches only on relay ports — and a test socket's port is any.
var loopbackPeers = []string{"--turn-allow-private-peers", "--turn-relay-port-min", "1024", "--turn-relay-port-max", "65535"}

// TestTURNSecretSurvivesRestart: with turn_enabled and no turn_secret, the
// secret is made once in the data directory (mode 0600) and a restarted
// server accepts the credentials its clients were given before — the
// issue's relay-only calls were refused by the new process for ever.
func TestTURNSecretSurvivesRestart(t *testing.T) {
	bin := buildDuet(t)
	dir := t.TempDir()
	args := append([]string{"--turn-enabled", "--turn-listen", "127.0.0.1:0", "--data-dir", dir}, loopbackPeers...)
	n := startDuet(t, bin, args...)
	uris, user, pass := iceAnswer(t, n.url())
	if _, err := allocate(t, uriAddr(t, uris, "turn", "udp"), user, pass, false); err != nil {
		t.Fatalf("allocate: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "turn_secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	n.stop(t)

	n = startDuet(t, bin, args...)
	uris, _, _ = iceAnswer(t, n.url())
	if _, err := allocate(t, uriAddr(t, uris, "turn", "udp"), user, pass, false); err != nil {
		t.Fatalf("the credential from before the restart: %v", err)
	}
}

// turnNode is a running `duet turn`.
type turnNode struct {
	cmd  *exec.Cmd
	addr string   // health and metrics
	uris []string // what it serves
}

func startTURNNode(t *testing.T, bin string, args ...string) *turnNode {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"turn", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	n := &turnNode{cmd: cmd}
	lines := bufio.NewScanner(stderr)
	for n.addr == "" && lines.Scan() {
		var rec struct {
			Msg, Addr string
			URIs      []string
		}
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "duet turn running" {
			n.addr, n.uris = rec.Addr, rec.URIs
		}
	}
	if n.addr == "" {
		t.Fatalf("duet turn %v did not start", args)
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return n
}

func (n *turnNode) get(t *testing.T, path string) int {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get("https://" + n.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDuetTurn: `duet turn` relays for the credentials signaling nodes
// mint from the secret file it made (over UDP and over TLS with the
// self-signed certificate), keeps relaying while the signaling node is
// killed and started again, and on SIGTERM turns /readyz to 503 and exits
// once its allocations are gone.
func TestDuetTurn(t *testing.T) {
	bin := buildDuet(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "shared", "turn_secret")
	os.Mkdir(filepath.Dir(secretFile), 0o700)
	tn := startTURNNode(t, bin, append([]string{"--turn-listen", "127.0.0.1:0", "--turn-tls-listen", "127.0.0.1:0", "--tls-self-signed",
		"--data-dir", dir, "--turn-secret-file", secretFile, "--drain-timeout", "20s"}, loopbackPeers...)...)
	udp, tlsAddr := uriAddr(t, tn.uris, "turn", "udp"), uriAddr(t, tn.uris, "turns", "tcp")
	if code := tn.get(t, "/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}

	signaling := []string{"--turn-uris", "turn:" + udp + "?transport=udp,turns:" + tlsAddr + "?transport=tcp", "--turn-secret-file", secretFile}
	sn := startDuet(t, bin, signaling...)
	_, user, pass := iceAnswer(t, sn.url())
	overUDP, err := allocate(t, udp, user, pass, false)
	if err != nil {
		t.Fatalf("allocate over UDP with the signaling node's credential: %v", err)
	}
	overTLS, err := allocate(t, tlsAddr, user, pass, true)
	if err != nil {
		t.Fatalf("allocate over TLS: %v", err)
	}

	sn.cmd.Process.Kill()
	sn.cmd.Wait()
	overUDP.roundTrip(t, "signaling gone")
	overTLS.roundTrip(t, "signaling gone")
	sn = startDuet(t, bin, signaling...)
	_, user2, pass2 := iceAnswer(t, sn.url())
	again, err := allocate(t, udp, user2, pass2, false)
	if err != nil {
		t.Fatalf("allocate after the signaling restart: %v", err)
	}
	overUDP.roundTrip(t, "signaling back")

	tn.cmd.Process.Signal(syscall.SIGTERM)
	wstest.Eventually(t, "readyz 503 while draining", func() bool { return tn.get(t, "/readyz") == 503 })
	overTLS.roundTrip(t, "still relaying while draining")
	exited := make(chan error, 1)
	go func() { exited <- tn.cmd.Wait() }()
	start := time.Now()
	for _, a := range []*allocation{overUDP, overTLS, again} {
		a.relay.Close() // deallocates
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("duet turn exit: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("duet turn left %v after its last allocation, not at once (drain_timeout 20s)", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("duet turn did not exit after its drain")
	}
}

// TestTURNCommandLine: duet turn's help names what it is for; it refuses
// TURN over TLS on its health port (duet serve shares its HTTPS port, duet
// turn has none) and a --turn-enabled=false that would leave it nothing
// to do; a signaling node told to read a secret file that is
// not there refuses to start rather than mint credentials no relay knows.
func TestTURNCommandLine(t *testing.T) {
	noEnv := func(string) string { return "" }
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"turn", "--help"}, &out, &errb, noEnv); code != 0 || !strings.Contains(out.String(), "usage: duet turn") ||
		!strings.Contains(out.String(), "-turn-tls-listen") {
		t.Fatalf("duet turn --help: %d\n%s%s", code, out.String(), errb.String())
	}
	errb.Reset()
	code := run(t.Context(), []string{"turn", "--listen", "127.0.0.1:7443", "--turn-tls-listen", "127.0.0.1:7443",
		"--tls-self-signed", "--data-dir", t.TempDir()}, &out, &errb, noEnv)
	if code != 2 || !strings.Contains(errb.String(), "turn_tls_listen") {
		t.Fatalf("duet turn with TLS on its health port: %d %s", code, errb.String())
	}
	errb.Reset()
	code = run(t.Context(), []string{"turn", "--turn-enabled=false", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir()}, &out, &errb, noEnv)
	if code != 2 || !strings.Contains(errb.String(), "turn_enabled") {
		t.Fatalf("duet turn --turn-enabled=false: %d %s", code, errb.String())
	}
	errb.Reset()
	code = run(t.Context(), []string{"serve", "--listen", "127.0.0.1:0", "--log-format", "text", "--turn-uris", "turn:127.0.0.1:3478",
		"--turn-secret-file", filepath.Join(t.TempDir(), "missing")}, &out, &errb, noEnv)
	if code != 1 || !strings.Contains(errb.String(), "turn_secret_file") {
		t.Fatalf("serve with a missing secret file: %d %s", code, errb.String())
	}
}
