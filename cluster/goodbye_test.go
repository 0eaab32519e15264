package cluster_test

import (
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestGracefulStopIsNoDeath is issue 14's fourth case: a node that drains
// and stops says goodbye. The others drop it from their count at once and
// neither declare it dead nor count a death.
func TestGracefulStopIsNoDeath(t *testing.T) {
	n := startCluster(t, 3)
	for _, nd := range n {
		wstest.Eventually(t, "every node to see the others", func() bool {
			return metric(t, nd, "duet_cluster_nodes") == 3
		})
	}
	a, b := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[2].URL("live"))
	wstest.Pair(a, b, "bye")

	stopped := make(chan struct{})
	go func() { n[2].Stop(t); n[2].cl.Close(); close(stopped) }()
	b.Expect("notification", "server_will_stop")
	b.WS.Close()
	a.Expect("stop", "")
	<-stopped
	left := time.Now()
	for _, nd := range n[:2] {
		wstest.Eventually(t, "the stopped node to leave the count", func() bool {
			return metric(t, nd, "duet_cluster_nodes") == 2
		})
	}
	t.Logf("count dropped %v after the node stopped", time.Since(left))
	for _, nd := range n[:2] {
		if d := metric(t, nd, "duet_cluster_node_deaths_total"); d != 0 {
			t.Errorf("%s counted %v node deaths after a graceful stop", nd.cl.ID(), d)
		}
	}
}
