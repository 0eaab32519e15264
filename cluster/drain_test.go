package cluster_test

import (
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestDrainedNodeClientsRejoinElsewhere: a node is drained (a rolling
// restart); its client is told server_will_stop, reconnects through the
// load balancer to another node and joins again. The room survives: the
// partner sees its peer go and come back, and offers again.
func TestDrainedNodeClientsRejoinElsewhere(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := wstest.Dial(t, nodes[0].URL("live")), wstest.Dial(t, nodes[1].URL("live"))
	wstest.Pair(a, b, "rolling")

	drained := make(chan struct{})
	go func() { nodes[0].Stop(t); close(drained) }()
	a.Expect("notification", "server_will_stop")

	// The SDKs reconnect at once; the new socket lands on the other node.
	again := wstest.Dial(t, nodes[1].URL("live"))
	a.WS.Close()
	b.Expect("stop", "")
	wstest.Join(again, "rolling")
	again.Expect("notification", "joined")
	b.Expect("start", "")
	again.Send(msg{"command": "takeCandidate", "streamId": "rolling", "label": 0, "id": "0", "candidate": "c"})
	if m := b.Expect("takeCandidate", ""); m.Str("candidate") != "c" {
		t.Fatalf("got %v", m)
	}
	<-drained // the drained node finished once its last socket left
}
