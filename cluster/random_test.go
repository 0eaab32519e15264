package cluster_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRandomSessionsAcrossNodes drives real sockets on three nodes through
// random joins, leaves, relays and disconnects, then closes everything and
// checks that no room or connection is left anywhere, and that every room
// pairs two newcomers afterwards (nothing stuck in the bucket).
func TestRandomSessionsAcrossNodes(t *testing.T) {
	n := startCluster(t, 3)
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 99))
		const peers, rooms, steps = 9, 3, 300
		cs := make([]*client, peers)
		for i := range cs {
			cs[i] = dial(t, n[i%3].URL("fuzz"))
			cs[i].keepReading()
		}
		for range steps {
			i := rng.IntN(peers)
			room := fmt.Sprintf("r%d", rng.IntN(rooms))
			switch rng.IntN(6) {
			case 0, 1:
				cs[i].send(msg{"command": "join", "streamId": room})
			case 2:
				cs[i].send(msg{"command": "leave", "streamId": room})
			case 3:
				cs[i].send(msg{"command": "takeCandidate", "streamId": room, "label": 0, "id": "0", "candidate": "c"})
			case 4:
				cs[i].send(msg{"command": "peerMessageCommand", "streamId": room, "definition": "x", "data": "y"})
			case 5:
				cs[i].ws.Close()
				cs[i] = dial(t, n[rng.IntN(3)].URL("fuzz"))
				cs[i].keepReading()
			}
		}
		for _, c := range cs {
			c.ws.Close()
		}
		eventually(t, "every room and connection gone", func() bool {
			conns := 0
			for _, nd := range n {
				conns += nd.Connections()
			}
			return roomsEverywhere(n) == 0 && conns == 0
		})
		for r := range rooms {
			a, b := dial(t, n[r%3].URL("fuzz")), dial(t, n[(r+1)%3].URL("fuzz"))
			pair(a, b, fmt.Sprintf("r%d", r))
			a.ws.Close()
			b.ws.Close()
		}
		eventually(t, "rooms forgotten again", func() bool { return roomsEverywhere(n) == 0 })
	}
}
