package server_test

import (
	"fmt"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// BenchmarkMeshMemory measures what a room member costs the process: 1920
// sockets join rooms of 2 (plain joins, as the Ant Media SDKs send them,
// or resumable with a session, as duet's SDKs do) or mesh rooms of 4 and 8
// (maxPeers, resumable, with a session), and
// the growth of the live heap is divided by the members. The test
// clients (gorilla sockets in this process) are the same in every run, so
// the differences between the runs are the server's. Run:
//
//	go test -run '^$' -bench MeshMemory -benchtime 1x ./server
func BenchmarkMeshMemory(b *testing.B) {
	const members = 1920
	for _, tc := range []struct {
		name string
		size int
		duet bool
	}{{"two-antmedia", 2, false}, {"two-duet", 2, true}, {"mesh-4", 4, true}, {"mesh-8", 8, true}} {
		size := tc.size
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				e := startNodes(b, 1, meshConfig)
				cs := make([]*client, members)
				for i := range cs {
					cs[i] = wstest.Dial(b, e.URL("big"))
				}
				before := heapInUse()
				for i, c := range cs {
					room := fmt.Sprintf("r%d", i/size)
					switch {
					case !tc.duet:
						wstest.Join(c, room)
					case size == 2:
						c.Send(msg{"command": "join", "streamId": room, "resumable": true, "session": fmt.Sprintf("s%d", i)})
					default:
						c.Send(msg{"command": "join", "streamId": room, "maxPeers": size, "resumable": true, "session": fmt.Sprintf("s%d", i)})
					}
					c.Expect("notification", "joined")
				}
				// Each member got a start per later member: read them all.
				for i, c := range cs {
					for range size - 1 - i%size {
						c.Expect("start", "")
					}
				}
				after := heapInUse()
				b.ReportMetric(float64(int64(after)-int64(before))/members, "heap-B/member")
				b.ReportMetric(0, "ns/op")
			}
		})
	}
}
