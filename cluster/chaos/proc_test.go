package chaos_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// duetBinary builds duet once per test binary run, or takes
// $DUET_CHAOS_BIN (to run these tests against another build, such as the
// one before a fix).
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func duetBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("DUET_CHAOS_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "duet-chaos-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "duet")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/duet-rtc/duet/cmd/duet").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// proc is one duet node process. It can be killed, frozen, drained and
// started again under the same node id.
type proc struct {
	t    *testing.T
	bin  string
	id   string
	args []string
	logs string // directory for its log files

	mu      sync.Mutex
	cmd     *exec.Cmd
	addr    string // "" while not running
	inc     string // the running process's cluster incarnation
	exited  chan struct{}
	starts  int
	stopped bool // SIGSTOPped
}

func newProc(t *testing.T, bin, id, logs string, args ...string) *proc {
	p := &proc{t: t, bin: bin, id: id, args: args, logs: logs}
	t.Cleanup(p.kill)
	return p
}

// start runs the node and waits for it to listen. It fails the test when
// the node does not start within startWait.
func (p *proc) start() error {
	p.mu.Lock()
	p.starts++
	n := p.starts
	p.mu.Unlock()
	logf, err := os.Create(filepath.Join(p.logs, fmt.Sprintf("%s.%d.log", p.id, n)))
	if err != nil {
		return err
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--node-id", p.id}, p.args...)
	cmd := exec.Command(p.bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	addrc := make(chan string, 1)
	incc := make(chan string, 1)
	go func() {
		defer close(exited)
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logf.Write(append(line, '\n'))
			var rec map[string]any
			if json.Unmarshal(line, &rec) != nil {
				continue
			}
			switch rec["msg"] {
			case "cluster node started":
				inc, _ := rec["incarnation"].(string)
				incc <- inc
			case "duet listening":
				a, _ := rec["addr"].(string)
				addrc <- a
			}
		}
		cmd.Wait()
	}()
	select {
	case a := <-addrc:
		inc := ""
		select {
		case inc = <-incc:
		default:
		}
		p.mu.Lock()
		p.cmd, p.addr, p.inc, p.exited, p.stopped = cmd, a, inc, exited, false
		p.mu.Unlock()
		return nil
	case <-exited:
		return fmt.Errorf("node %s exited at start (log %s.%d.log)", p.id, p.id, n)
	case <-time.After(startWait):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("node %s did not listen within %v", p.id, startWait)
	}
}

const startWait = 90 * time.Second

// Addr is where the node listens, "" while it is down.
func (p *proc) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Incarnation is the running process's cluster incarnation.
func (p *proc) Incarnation() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inc
}

// kill sends SIGKILL (after SIGCONT, for a frozen process) and waits.
func (p *proc) kill() { p.signalAndWait(syscall.SIGKILL) }

// drain sends SIGTERM: the node drains and exits.
func (p *proc) drain() { p.signalAndWait(syscall.SIGTERM) }

func (p *proc) signalAndWait(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.addr, p.cmd = "", nil
	if p.stopped {
		cmd.Process.Signal(syscall.SIGCONT)
		p.stopped = false
	}
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// freeze stops the process (SIGSTOP) for d, as a machine starved of CPU
// does not run it, then lets it go on.
func (p *proc) freeze(d time.Duration) {
	p.mu.Lock()
	cmd := p.cmd
	if cmd == nil {
		p.mu.Unlock()
		return
	}
	cmd.Process.Signal(syscall.SIGSTOP)
	p.stopped = true
	p.mu.Unlock()
	<-time.After(d)
	p.mu.Lock()
	if p.cmd == cmd && p.stopped {
		cmd.Process.Signal(syscall.SIGCONT)
		p.stopped = false
	}
	p.mu.Unlock()
}

// metric reads one sample from the node's /metrics; -1 when absent or
// the node is down.
func (p *proc) metric(sample string) float64 {
	body, code := httpGet("http://" + p.Addr() + "/metrics")
	if code != 200 {
		return -1
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// ready is the node's /readyz status, 0 when it is down.
func (p *proc) ready() int {
	if p.Addr() == "" {
		return 0
	}
	_, code := httpGet("http://" + p.Addr() + "/readyz")
	return code
}
