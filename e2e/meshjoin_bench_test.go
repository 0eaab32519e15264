package e2e

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// BenchmarkMeshJoinCluster is client's BenchmarkMeshJoin on three cluster
// nodes (one embedded NATS, in this process): for mesh rooms of N Go
// peers on loopback, the time from the last member's JoinMesh to its data
// channels with all N-1 others open, and the signaling messages the
// servers sent to all members meanwhile. The members join through the
// nodes in turn, so most pairs' signaling crosses nodes. It lives here,
// not in the client module, so that the client's module does not need
// NATS. Run:
//
//	go test -run '^$' -bench MeshJoinCluster -benchtime 5x ./e2e
func BenchmarkMeshJoinCluster(b *testing.B) {
	for _, n := range []int{2, 4, 6, 8} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var total time.Duration
			var msgs int64
			for i := range b.N {
				d, m := clusterMeshJoinOnce(b, startMeshCluster(b, 3), n, fmt.Sprintf("r%d-%d", n, i))
				total += d
				msgs += m
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/join-to-all-connected")
			b.ReportMetric(float64(msgs)/float64(b.N), "msgs/join")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// startMeshCluster runs n duet nodes with mesh rooms on one embedded NATS
// server, and returns a function giving the next node's URL.
func startMeshCluster(b *testing.B, n int) func() string {
	ns, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ns.Shutdown)
	cfg := testserver.Config()
	cfg.MaxPeers = []string{"mesh=8"}
	var nodes []*testserver.Server
	for i := range n {
		reg := prometheus.NewRegistry()
		cl, err := cluster.New(b.Context(), cluster.Options{URL: ns.URL(), NodeID: fmt.Sprintf("n%d", i+1),
			ProbeTimeout: cfg.ProbeTimeout, Registerer: reg, MemoryStorage: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close) // after the node's drain, registered next
		nodes = append(nodes, testserver.Start(b, cfg, server.Options{Rooms: cl, Registry: reg}))
	}
	var next atomic.Int64
	return func() string { return nodes[int(next.Add(1)-1)%n].URL("mesh") }
}

func clusterMeshJoinOnce(b *testing.B, url func() string, n int, room string) (time.Duration, int64) {
	var count atomic.Int64
	counting := atomic.Bool{}
	join := func() *client.Mesh {
		c, err := client.Dial(b.Context(), url(), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		sub := c.Subscribe("")
		b.Cleanup(sub.Close)
		go func() {
			for ev := range sub.Events() {
				switch ev.(type) {
				case client.Joined, client.Start, client.Stop, client.TakeConfiguration, client.TakeCandidate, client.PeerMessage:
					if counting.Load() {
						count.Add(1)
					}
				}
			}
		}()
		m, err := client.JoinMesh(b.Context(), c, room, &client.MeshOptions{MaxPeers: 8, Peer: client.PeerOptions{
			Loopback: true, Hello: []byte(`{}`)}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		return m
	}
	var ms []*client.Mesh
	for range n - 1 {
		ms = append(ms, join())
	}
	for _, m := range ms {
		for range n - 2 {
			if _, err := m.Accept(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	}
	counting.Store(true)
	start := time.Now()
	last := join()
	for range n - 1 {
		if _, err := last.Accept(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	d := time.Since(start)
	for _, m := range ms {
		if _, err := m.Accept(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	counting.Store(false)
	return d, count.Load()
}
