package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster"
)

// TestStartWithFreshNATSCluster is issue 14's second case: three duet
// nodes start together against a NATS cluster of three that has just
// started (its JetStream has no meta leader yet), with the membership
// bucket replicated three times. Every node must wait for JetStream and
// start; the bucket is created once, whoever gets there first.
func TestStartWithFreshNATSCluster(t *testing.T) {
	servers := startNATSCluster(t, 3)
	url := clientURLs(servers)
	began := time.Now()
	nodes := make([]*cluster.Cluster, 3)
	errs := make([]error, 3)
	took := make([]time.Duration, 3)
	concurrently(3, func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		nodes[i], errs[i] = cluster.New(ctx, cluster.Options{
			URL: url, NodeID: fmt.Sprintf("n%d", i+1), Replicas: 3,
			Logger: testLogger(t, fmt.Sprintf("n%d", i+1)),
		})
		took[i] = time.Since(began)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("node n%d did not start: %v", i+1, err)
			continue
		}
		t.Logf("node n%d started after %v", i+1, took[i])
		defer nodes[i].Close()
	}
}

// TestStartBeforeNATS: a node started before its NATS server waits for it.
func TestStartBeforeNATS(t *testing.T) {
	addr := freeAddr(t)
	type result struct {
		c   *cluster.Cluster
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := cluster.New(context.Background(), cluster.Options{
			URL: "nats://" + addr, NodeID: "early", StartTimeout: 30 * time.Second, Logger: testLogger(t, "early"),
		})
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("New returned before NATS started: %v", r.err)
	case <-time.After(500 * time.Millisecond): // NATS starts a moment later
	}
	e, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Listen: addr, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	r := <-done
	if r.err != nil {
		t.Fatalf("node did not start once NATS was up: %v", r.err)
	}
	if err := r.c.Ready(); err != nil {
		t.Fatalf("started node not ready: %v", err)
	}
	r.c.Close()
}

// TestStartGivesUp: without NATS, start-up fails after StartTimeout with
// an error that says what it waited for.
func TestStartGivesUp(t *testing.T) {
	began := time.Now()
	_, err := cluster.New(context.Background(), cluster.Options{
		URL: "nats://" + freeAddr(t), NodeID: "alone", StartTimeout: 1500 * time.Millisecond, Logger: testLogger(t, "alone"),
	})
	if err == nil || !strings.Contains(err.Error(), "not ready after") || !strings.Contains(err.Error(), "no NATS server reachable") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("gave up after %v: %v", time.Since(began).Round(10*time.Millisecond), err)
}

// TestReplicasBeyondAServerFailAtOnce: three replicas asked of one NATS
// server that is not clustered can never be placed. New says so at once,
// with the cause, instead of retrying until StartTimeout and blaming a
// leader election.
func TestReplicasBeyondAServerFailAtOnce(t *testing.T) {
	ns := startNATS(t)
	began := time.Now()
	c, err := cluster.New(context.Background(), cluster.Options{
		URL: ns.URL(), NodeID: "r3", Replicas: 3, StartTimeout: time.Minute, Logger: testLogger(t, "r3"),
	})
	if err == nil {
		c.Close()
		t.Fatal("New succeeded with 3 replicas on one NATS server")
	}
	if !errors.Is(err, cluster.ErrReplicasUnsupported) || !strings.Contains(err.Error(), "not supported in non-clustered mode") {
		t.Fatalf("err = %v, want ErrReplicasUnsupported with NATS's reason", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("New took %v to give up; a permanent error should end it at once", took)
	}
}
