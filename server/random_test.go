package server_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestRandomSessions drives real sockets through random joins, leaves,
// relays and disconnects, then closes everything and checks that no room,
// connection or goroutine is left (goleak runs after the package).
func TestRandomSessions(t *testing.T) {
	s := start(t)
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 99))
		const peers, rooms, steps = 8, 3, 400
		cs := make([]*client, peers)
		for i := range cs {
			cs[i] = wstest.Dial(t, s.URL("fuzz"))
			cs[i].KeepReading()
		}
		for range steps {
			i := rng.IntN(peers)
			room := fmt.Sprintf("r%d", rng.IntN(rooms))
			switch rng.IntN(6) {
			case 0, 1:
				cs[i].Send(msg{"command": "join", "streamId": room})
			case 2:
				cs[i].Send(msg{"command": "leave", "streamId": room})
			case 3:
				cs[i].Send(msg{"command": "takeCandidate", "streamId": room, "label": 0, "id": "0", "candidate": "c"})
			case 4:
				cs[i].Send(msg{"command": "peerMessageCommand", "streamId": room, "definition": "x", "data": "y"})
			case 5:
				cs[i].WS.Close()
				cs[i] = wstest.Dial(t, s.URL("fuzz"))
				cs[i].KeepReading()
			}
		}
		wstest.Eventually(t, "no more rooms than were used", func() bool { return s.Rooms().Stats().Rooms <= int64(rooms*len(s.nodes)) })
		for _, c := range cs {
			c.WS.Close()
		}
		wstest.Eventually(t, "every room and connection gone", func() bool {
			return s.Rooms().Stats().Rooms == 0 && s.Connections() == 0
		})
	}
}
