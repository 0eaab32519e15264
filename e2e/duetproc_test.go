package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A duet server as a separate process of the real binary, so that a test
// can do to it what happens to servers: drain it (SIGTERM), kill it
// (SIGKILL, no goodbye to anyone) and start it again on the same address,
// with none of its state. Nodes of a cluster are the same thing with the
// cluster flags in args.

// buildDuet compiles cmd/duet into the test's temporary directory.
func buildDuet(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "duet")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/duet").CombinedOutput(); err != nil {
		t.Fatalf("build duet: %v\n%s", err, out)
	}
	return bin
}

// duetProc is one running `duet serve`.
type duetProc struct {
	bin  string
	args []string
	addr string // host:port it listens on
	turn string // host:port of its embedded TURN server, when it runs one
	cmd  *exec.Cmd
	done chan error
	once sync.Once
}

// startDuet runs `duet serve --listen addr args...` and waits until it
// listens. addr may end in :0; a restart reuses the port it got.
func startDuet(t testing.TB, bin, addr string, args ...string) *duetProc {
	t.Helper()
	if !slices.Contains(args, "--data-dir") {
		// State kept across restarts (the TURN secret, certificates)
		// stays with the test, not in the user's config directory.
		args = append(slices.Clip(args), "--data-dir", t.TempDir())
	}
	p := &duetProc{bin: bin, args: args}
	p.start(t, addr)
	return p
}

func (p *duetProc) start(t testing.TB, addr string) {
	t.Helper()
	all := append([]string{"serve", "--listen", addr, "--log-format", "json", "--log-level", "info"}, p.args...)
	cmd := exec.Command(p.bin, all...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd, p.done, p.once = cmd, make(chan error, 1), sync.Once{}
	t.Cleanup(func() { p.kill(t) })
	lines := bufio.NewScanner(stderr)
	listening := ""
	for listening == "" && lines.Scan() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &rec) == nil {
			switch rec.Msg {
			case "duet listening":
				listening = rec.Addr
			case "embedded TURN server listening":
				p.turn = rec.Addr
			}
		}
	}
	if listening == "" {
		t.Fatalf("duet serve %v did not start", all)
	}
	p.addr = listening
	go func() {
		for lines.Scan() {
			if os.Getenv("DUET_TEST_LOG") != "" {
				t.Logf("duet: %s", lines.Bytes())
			}
		}
		p.done <- cmd.Wait()
	}()
}

// rotateTURNSecret removes the TURN secret the process keeps in its data
// directory: the next start makes a new one, and credentials minted before
// are refused.
func (p *duetProc) rotateTURNSecret(t testing.TB) {
	t.Helper()
	i := slices.Index(p.args, "--data-dir")
	if i < 0 || i+1 >= len(p.args) {
		t.Fatal("duet runs without --data-dir")
	}
	if err := os.Remove(filepath.Join(p.args[i+1], "turn_secret")); err != nil {
		t.Fatal(err)
	}
}

// http is the server's base URL.
func (p *duetProc) http() string { return "http://" + p.addr }

// drain sends SIGTERM and waits for the clean exit a drain ends with.
func (p *duetProc) drain(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("duet after SIGTERM: %v", err)
	}
}

// kill ends the process at once, as a crash or kill -9 does: sockets are
// reset, nobody is told anything, the state is gone.
func (p *duetProc) kill(t testing.TB) {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(30 * time.Second)
}

func (p *duetProc) wait(d time.Duration) error {
	var err error
	p.once.Do(func() {
		select {
		case err = <-p.done:
		case <-time.After(d):
			err = errTimeout
		}
	})
	return err
}

// restart starts a new process on the same address (the old one must
// have ended): clients that reconnect find a server with no memory of them.
// An embedded TURN server listening on a :0 port the first time listens
// on the port it got then, as a server restarted with its configuration
// does.
func (p *duetProc) restart(t testing.TB) {
	t.Helper()
	for i, a := range p.args {
		if a == "--turn-listen" && i+1 < len(p.args) && strings.HasSuffix(p.args[i+1], ":0") && p.turn != "" {
			p.args[i+1] = p.turn
		}
	}
	p.start(t, p.addr)
}

var errTimeout = errors.New("timed out")
