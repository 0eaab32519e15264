package cluster_test

import (
	"context"
	"fmt"
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
