package cluster_test

import (
	"testing"
)

// TestDrainedNodeClientsRejoinElsewhere: a node is drained (a rolling
// restart); its client is told server_will_stop, reconnects through the
// load balancer to another node and joins again. The room survives: the
// partner sees its peer go and come back, and offers again.
func TestDrainedNodeClientsRejoinElsewhere(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := dial(t, nodes[0].URL("live")), dial(t, nodes[1].URL("live"))
	pair(a, b, "rolling")

	drained := make(chan struct{})
	go func() { nodes[0].Stop(t); close(drained) }()
	a.expect("notification", "server_will_stop")

	// The SDKs reconnect at once; the new socket lands on the other node.
	again := dial(t, nodes[1].URL("live"))
	a.ws.Close()
	b.expect("stop", "")
	join(again, "rolling")
	again.expect("notification", "joined")
	b.expect("start", "")
	again.send(msg{"command": "takeCandidate", "streamId": "rolling", "label": 0, "id": "0", "candidate": "c"})
	if m := b.expect("takeCandidate", ""); m.str("candidate") != "c" {
		t.Fatalf("got %v", m)
	}
	<-drained // the drained node finished once its last socket left
}
