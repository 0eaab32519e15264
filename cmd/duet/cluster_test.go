package main

import (
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestBinaryTwoNodeCluster runs the real binary twice as "Running a
// cluster" describes for development: the first node embeds NATS, the
// second joins it with --nats-url. Two peers, one per node, pair and relay.
func TestBinaryTwoNodeCluster(t *testing.T) {
	bin := buildDuet(t)
	n1 := startDuet(t, bin, "--drain-timeout", "2s", "--nats-embedded", "--nats-embedded-listen", "127.0.0.1:0", "--node-id", "one")
	if n1.log["nats"] == "" {
		t.Fatal("no embedded NATS URL in the log")
	}
	n2 := startDuet(t, bin, "--drain-timeout", "2s", "--nats-url", n1.log["nats"], "--node-id", "two")

	a, b := wstest.Dial(t, n1.url()), wstest.Dial(t, n2.url())
	wstest.Pair(a, b, "s1")
	a.Send(`{"command":"takeConfiguration","streamId":"s1","type":"offer","sdp":"v=0"}`)
	b.Expect("takeConfiguration", "")

	// The second node's peer leaves; its partner gets stop.
	b.WS.Close()
	a.Expect("stop", "")
	a.WS.Close()
	n2.stop(t)
	n1.stop(t)
}
