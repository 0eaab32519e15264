package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestChaos runs a cluster under steady client traffic while a loop
// breaks it the ways operators see it break, one fault at a time: a node
// killed (SIGKILL) and restarted at once under the same node id, a node
// drained (SIGTERM) and restarted, a node cut off from NATS, a node
// frozen past node_dead_after, NATS restarted, NATS restarted without its
// data. Throughout, the peers check that every frame from their partner
// arrives in order unless they were told (stop, relayFailed, a closed
// socket), and that every start is matched by the partner's answer. When
// the faults end, every node must be ready again, every pair must be
// together and relaying, and the bucket must hold exactly the live pairs:
// at most two members per room, none of a dead incarnation.
//
// DUET_CHAOS_DURATION (default 60s), DUET_CHAOS_NODES (3) and
// DUET_CHAOS_PAIRS (4) size it; scripts/chaos.sh runs the long version.
func TestChaos(t *testing.T) {
	duration := envDuration(t, "DUET_CHAOS_DURATION", 60*time.Second)
	nodes := envInt(t, "DUET_CHAOS_NODES", 3)
	pairs := envInt(t, "DUET_CHAOS_PAIRS", 4)
	s := startSystem(t, nodes)
	rec := newRecorder()

	done := make(chan struct{})
	var wg sync.WaitGroup
	var peers []*peer
	for i := range pairs {
		room := fmt.Sprintf("chaos%d", i)
		a := &peer{name: fmt.Sprintf("p%da", i), room: room, sys: s, rec: rec}
		b := &peer{name: fmt.Sprintf("p%db", i), room: room, sys: s, rec: rec, other: a}
		a.other = b
		peers = append(peers, a, b)
	}
	for _, p := range peers {
		wg.Add(1)
		go func() { defer wg.Done(); p.run(done) }()
	}
	stopPeers := sync.OnceFunc(func() { close(done); wg.Wait() })
	defer stopPeers()

	faults := s.faults(t)
	end := time.Now().Add(duration)
	for n := 1; time.Now().Before(end); n++ {
		<-time.After(time.Duration(1000+rand.IntN(2000)) * time.Millisecond)
		f := faults.pick()
		began := time.Now()
		rec.count("fault:" + f.name)
		what, err := f.do()
		t.Logf("%s fault %d at %v: %s: %s", began.Format("15:04:05.000"), n, began.Sub(end.Add(-duration)).Round(time.Second), f.name, what)
		if err != nil {
			t.Fatalf("fault %s: %v", f.name, err)
		}
	}

	// The faults have ended; the cluster must settle by itself.
	s.calm.Store(true)
	calm := time.Now()
	for _, p := range s.nodes {
		wait(t, rec, 30*time.Second, "node "+p.id+" ready again", func() bool { return p.ready() == 200 })
	}
	t.Logf("every node ready %v after the last fault", time.Since(calm).Round(time.Millisecond))
	wait(t, rec, 45*time.Second, "every pair together and relaying", func() bool {
		for _, p := range peers {
			if paired, heard, _ := p.state(); !paired || heard < 5 {
				return false
			}
		}
		return true
	})
	t.Logf("every pair relaying %v after the last fault", time.Since(calm).Round(time.Millisecond))
	s.audit(t, rec, pairs)
	stopPeers()
	t.Logf("after %v of faults: %s", duration, rec.summary())
	rec.report(t)
}

// wait polls cond until it holds or d passes, which is a violation.
func wait(t *testing.T, rec *recorder, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			rec.violation("not within %v: %s", d, what)
			return
		}
		time.Sleep(20 * time.Millisecond) // the polling interval of a condition wait
	}
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s: want a positive number, got %q", name, v)
	}
	return n
}
