package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/duet-rtc/duet/cluster"
)

// TestMain checks for leaked goroutines, like every package's, and
// removes the duet binary the tests built.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent(), goleak.Cleanup(func(int) {
		if builtBin != "" {
			os.RemoveAll(filepath.Dir(builtBin))
		}
	}))
}

// system is a NATS server in this process and duet node processes, each
// reaching NATS through its own link.
type system struct {
	t     *testing.T
	addr  string // NATS client address, kept over restarts
	store string // JetStream directory

	calm atomic.Bool // the faults have ended: clients stop moving and leaving

	mu    sync.Mutex
	nats  *cluster.Embedded
	nodes []*proc
	links []*link
}

func startSystem(t *testing.T, nodes int, extra ...string) *system {
	t.Helper()
	s := &system{t: t, store: t.TempDir()}
	if err := s.startNATS(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stopNATS) // after the nodes, registered below
	logs := os.Getenv("DUET_CHAOS_LOGS")
	if logs == "" {
		logs = t.TempDir()
	}
	bin := duetBinary(t)
	for i := range nodes {
		l := newLink(t, s.addr)
		args := append([]string{"--nats-url", l.URL(), "--drain-timeout", "2s", "--rate-limit", "0",
			"--probe-timeout", "1s", "--node-dead-after", "1.5s"}, extra...)
		p := newProc(t, bin, fmt.Sprintf("n%d", i+1), logs, args...)
		s.nodes = append(s.nodes, p)
		s.links = append(s.links, l)
	}
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i, p := range s.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.start() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// startNATS starts the NATS server on the system's address, with its
// store or, when fresh is a new directory, an empty one.
func (s *system) startNATS(fresh string) error {
	dir := s.store
	if fresh != "" {
		dir, s.store = fresh, fresh
	}
	e, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Listen: s.addr, StoreDir: dir, ServerName: "chaos"})
	if err != nil {
		return err
	}
	if s.addr == "" {
		u, _ := url.Parse(e.URL())
		s.addr = u.Host
	}
	s.mu.Lock()
	s.nats = e
	s.mu.Unlock()
	return nil
}

func (s *system) stopNATS() {
	s.mu.Lock()
	e := s.nats
	s.nats = nil
	s.mu.Unlock()
	if e != nil {
		e.Shutdown()
	}
}

// wsURL is the WebSocket URL of a running node chosen at random, as a
// load balancer would pick one; "" when none runs.
func (s *system) wsURL() string {
	var up []string
	for _, p := range s.nodes {
		if a := p.Addr(); a != "" {
			up = append(up, a)
		}
	}
	if len(up) == 0 {
		return ""
	}
	return "ws://" + up[rand.IntN(len(up))] + "/live/websocket"
}

func (s *system) quiet() bool { return s.calm.Load() }
