package client_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duet-rtc/duet/client"
)

// BenchmarkMeshJoin measures, for mesh rooms of N Go peers on loopback,
// what one more member's arrival costs: the time from its JoinMesh to
// its data channels with all N-1 members open, and the signaling
// messages the server sent to all members meanwhile (joined, start, the
// relayed offers, answers, candidates and hellos). The room's first N-1
// members are connected before the last joins. Run:
//
//	go test -run '^$' -bench MeshJoin -benchtime 5x ./client
func BenchmarkMeshJoin(b *testing.B) {
	for _, n := range []int{2, 4, 6, 8} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var total time.Duration
			var msgs int64
			for i := range b.N {
				d, m := meshJoinOnce(b, n, fmt.Sprintf("r%d-%d", n, i))
				total += d
				msgs += m
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/join-to-all-connected")
			b.ReportMetric(float64(msgs)/float64(b.N), "msgs/join")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func meshJoinOnce(b *testing.B, n int, room string) (time.Duration, int64) {
	srv := startMeshServerTB(b)
	var count atomic.Int64
	counting := atomic.Bool{}
	join := func() *client.Mesh {
		c, err := client.Dial(b.Context(), srv.URL("mesh"), &client.Options{Logger: testLogger(b)})
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
			Loopback: true, Hello: []byte(`{}`), Logger: testLogger(b)}})
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
