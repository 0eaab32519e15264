package chaos_test

import (
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestPartitionedNodeJudgesNobody: a node cut off from NATS by a
// partition (bytes stop, nothing closes) for longer than it takes to
// declare a node dead cannot hear anyone, and must not conclude that
// everyone else died: its probes go unanswered, but so does NATS. The
// others, which can reach each other, are the ones that declare it dead.
// Afterwards the cluster serves again.
func TestPartitionedNodeJudgesNobody(t *testing.T) {
	s := startSystem(t, 3)
	for _, p := range s.nodes {
		wstest.Eventually(t, "every node to see the others", func() bool { return p.metric("duet_cluster_nodes") == 3 })
	}
	cut := s.nodes[0]
	s.links[0].partition()
	<-time.After(4 * time.Second) // node_dead_after 1.5 s, and as long again for the probe
	s.links[0].heal()
	for _, p := range s.nodes {
		wstest.Eventually(t, "every node ready again", func() bool { return p.ready() == 200 })
	}
	if d := cut.metric("duet_cluster_node_deaths_total"); d != 0 {
		t.Errorf("the cut-off node declared %v healthy nodes dead", d)
	}
	if n := cut.metric(`duet_cluster_liveness_near_misses_total{kind="self_cut_off"}`); n < 1 {
		t.Errorf("the cut-off node did not notice it was the one cut off (self_cut_off %v)", n)
	}
	for _, p := range s.nodes[1:] {
		t.Logf("%s declared %v deaths", p.id, p.metric("duet_cluster_node_deaths_total"))
	}
	a := wstest.Dial(t, "ws://"+cut.Addr()+"/live/websocket")
	b := wstest.Dial(t, "ws://"+s.nodes[1].Addr()+"/live/websocket")
	wstest.Pair(a, b, "after")
}
