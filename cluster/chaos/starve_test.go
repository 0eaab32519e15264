package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestStarvedNodesAreNotDeclaredDead is issue 14's sixth case. Five duet
// processes run on this machine's two cores; one after another, a node is
// frozen (SIGSTOP) for a little longer than node_dead_after (1.5 s), as a
// starved process is not scheduled, then let go. A frozen node misses
// heartbeats but answers a direct probe as soon as it runs again, so no
// node may be declared dead and no client may get a stop it should not.
func TestStarvedNodesAreNotDeclaredDead(t *testing.T) {
	s := startSystem(t, 5)
	type duo struct {
		room string
		a, b <-chan wstest.Msg
	}
	var duos []duo
	for i := range 10 { // every pair split across two nodes
		a := wstest.Dial(t, "ws://"+s.nodes[i%5].Addr()+"/live/websocket")
		b := wstest.Dial(t, "ws://"+s.nodes[(i+1)%5].Addr()+"/live/websocket")
		room := fmt.Sprintf("starve%d", i)
		wstest.Pair(a, b, room)
		duos = append(duos, duo{room, a.Collect(), b.Collect()})
	}
	for _, p := range s.nodes {
		wstest.Eventually(t, "every node to see the others", func() bool { return p.metric("duet_cluster_nodes") == 5 })
	}
	const rounds = 6
	for r := range rounds {
		p := s.nodes[rand.IntN(len(s.nodes))]
		d := 1700*time.Millisecond + rand.N(500*time.Millisecond) // node_dead_after is 1.5 s
		t.Logf("round %d: freezing %s for %v", r+1, p.id, d)
		p.freeze(d)
		<-time.After(time.Second) // let it catch up before the next one
	}
	deaths, nearMisses := 0.0, 0.0
	for _, p := range s.nodes {
		deaths += p.metric("duet_cluster_node_deaths_total")
		nearMisses += p.metric(`duet_cluster_liveness_near_misses_total{kind="probe_answered"}`)
	}
	t.Logf("after %d freezes: %v node deaths, %v probes that saved a node", rounds, deaths, nearMisses)
	spurious := 0
	for _, d := range duos {
		for _, ch := range []<-chan wstest.Msg{d.a, d.b} {
		drain:
			for {
				select {
				case m, ok := <-ch:
					if !ok {
						t.Errorf("room %s: a socket was closed", d.room)
						break drain
					}
					if m.Str("command") != "pong" {
						spurious++
						t.Errorf("room %s: client got %v", d.room, m)
					}
				default:
					break drain
				}
			}
		}
	}
	if deaths != 0 {
		t.Errorf("healthy nodes were declared dead %v times", deaths)
	}
}
