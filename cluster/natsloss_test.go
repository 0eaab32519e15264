package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestOneOfThreeNATSServersLost: three duet nodes on a three-server NATS
// cluster, the bucket replicated three times. One NATS server goes: the
// nodes that used it reconnect to another, calls go on without a lost
// frame, and joins go on; no node is declared dead.
func TestOneOfThreeNATSServersLost(t *testing.T) {
	servers := startNATSCluster(t, 3)
	url := clientURLs(servers)
	var n []*node
	for i := range 3 {
		n = append(n, startNodeWith(t, url, fmt.Sprintf("n%d", i+1), func(o *cluster.Options) { o.Replicas = 3 }))
	}
	t.Cleanup(func() { // before the NATS servers go
		for _, nd := range n {
			nd.Stop(t)
			nd.cl.Close()
		}
	})
	a, b := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[1].URL("live"))
	wstest.Pair(a, b, "r")
	toB := b.Collect()
	const frames = 200
	go func() {
		for i := range frames {
			a.Send(msg{"command": "takeCandidate", "streamId": "r", "label": 0, "id": "0", "candidate": fmt.Sprintf("c%d", i)})
			if i == frames/4 {
				servers[0].Shutdown() // the first URL: some node uses it
			}
			time.Sleep(10 * time.Millisecond) // a steady sender
		}
	}()
	for i := range frames {
		m := wstest.Next(t, toB, 15*time.Second)
		if want := fmt.Sprintf("c%d", i); m.Str("candidate") != want {
			t.Fatalf("partner got %v, want candidate %s", m, want)
		}
	}
	for _, nd := range n {
		wstest.Eventually(t, "every node ready", func() bool { return readyz(t, nd) == 200 })
		if d := metric(t, nd, "duet_cluster_node_deaths_total"); d != 0 {
			t.Errorf("%s declared %v node deaths", nd.cl.ID(), d)
		}
	}
	c, d := wstest.Dial(t, n[2].URL("live")), wstest.Dial(t, n[0].URL("live"))
	wstest.Pair(c, d, "after")
}
