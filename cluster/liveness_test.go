package cluster_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/config"
)

// TestDeadMemberEvictedOnRejoinAcrossNodes is the mobile reconnect with the
// old socket on one node and the new one on another: the old socket is
// probed over NATS, does not answer, is evicted and dropped by its node.
func TestDeadMemberEvictedOnRejoinAcrossNodes(t *testing.T) {
	n := startCluster(t, 3, func(c *config.Config) { c.ProbeTimeout = 300 * time.Millisecond })
	a, oldB := dial(t, n[0].URL("live")), dial(t, n[1].URL("live"))
	pair(a, oldB, "r")
	got := a.collect()
	// oldB stops reading: it answers no ping, like a phone that left the network.
	newB := dial(t, n[2].URL("live"))
	began := time.Now()
	join(newB, "r")
	newB.expect("notification", "joined")
	t.Logf("rejoin admitted after %v", time.Since(began))
	if ev := n[2].Rooms().Stats().Evictions; ev != 1 {
		t.Fatalf("evictions on the joiner's node = %d, want 1", ev)
	}
	if code := oldB.closed(); code != websocket.CloseAbnormalClosure {
		t.Fatalf("old socket close code %d, want a dropped socket", code)
	}
	// The survivor's view: stop (its partner is gone), then start.
	for _, want := range []string{"stop", "start"} {
		if m := next(t, got, 5*time.Second); m.str("command") != want {
			t.Fatalf("survivor got %v, want %s", m, want)
		}
	}
	newB.send(msg{"command": "takeConfiguration", "streamId": "r", "type": "answer", "sdp": "v=0"})
	if m := next(t, got, 5*time.Second); m.str("command") != "takeConfiguration" {
		t.Fatalf("survivor got %v, want the newcomer's relay", m)
	}
}

// TestConcurrentJoinsThroughAllNodes: many peers join one room at the same
// moment through every node; compare-and-set admits exactly two and
// exactly one of them gets start.
func TestConcurrentJoinsThroughAllNodes(t *testing.T) {
	n := startCluster(t, 3)
	for round := range 5 {
		room := "race" + string(rune('a'+round))
		const perNode = 4
		var clients []*client
		for i := range 3 * perNode {
			clients = append(clients, dial(t, n[i%3].URL("live")))
		}
		chans := make([]<-chan msg, len(clients))
		for i, c := range clients {
			chans[i] = c.collect() // every peer answers probes
		}
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.ws.WriteMessage(websocket.TextMessage, []byte(`{"command":"join","streamId":"`+room+`"}`))
			}()
		}
		wg.Wait()
		joined, refused, starts := 0, 0, 0
		for i := range clients {
			switch m := next(t, chans[i], 10*time.Second); {
			case m.str("definition") == "joined":
				joined++
			case m.str("definition") == "NoSpaceForNewPeer":
				refused++
			default:
				t.Fatalf("peer %d got %v", i, m)
			}
		}
		if joined != 2 || refused != len(clients)-2 {
			t.Fatalf("round %d: %d joined, %d refused; want 2 and %d", round, joined, refused, len(clients)-2)
		}
		// Exactly one start: after a ping round trip on every socket,
		// everything sent before has arrived.
		for i, c := range clients {
			c.send(msg{"command": "ping"})
			for {
				m := next(t, chans[i], 5*time.Second)
				if m.str("command") == "pong" {
					break
				}
				if m.str("command") != "start" {
					t.Fatalf("peer %d got %v", i, m)
				}
				starts++
			}
		}
		if starts != 1 {
			t.Fatalf("round %d: %d starts, want 1", round, starts)
		}
		for _, c := range clients {
			c.ws.Close()
		}
	}
	eventually(t, "every room forgotten", func() bool { return roomsEverywhere(n) == 0 })
}

// TestNodeDeath kills a node mid-call the hard way (its NATS connection
// cut without a goodbye, its sockets gone): the partner on a surviving
// node gets stop within 3 s, and the room takes a new peer.
func TestNodeDeath(t *testing.T) {
	n := startCluster(t, 3)
	a, b := dial(t, n[0].URL("live")), dial(t, n[1].URL("live"))
	pair(a, b, "call")
	a.send(msg{"command": "takeConfiguration", "streamId": "call", "type": "offer", "sdp": "v=0"})
	b.expect("takeConfiguration", "")
	// A room whose only member is on the dying node must not stay blocked.
	lonely := dial(t, n[1].URL("live"))
	join(lonely, "lonely")
	lonely.expect("notification", "joined")

	got := a.collect()
	killed := time.Now()
	n[1].cl.Abort()
	b.ws.Close()
	lonely.ws.Close()
	go n[1].Stop(t) // the transport goes too; its drain cannot reach NATS

	m := next(t, got, 5*time.Second)
	took := time.Since(killed)
	if m.str("command") != "stop" || m.str("streamId") != "call" {
		t.Fatalf("survivor got %v, want stop", m)
	}
	t.Logf("partner on a surviving node got stop %v after the kill", took)
	if took > 3*time.Second {
		t.Fatalf("stop came after %v, want within 3s", took)
	}
	c := dial(t, n[2].URL("live"))
	join(c, "call")
	c.expect("notification", "joined")
	if m := next(t, got, 5*time.Second); m.str("command") != "start" {
		t.Fatalf("survivor got %v, want start", m)
	}
	// The dead node's lonely member is replaced by the next joiner, who
	// waits (no start to a ghost) and pairs with the one after.
	d, e := dial(t, n[0].URL("live")), dial(t, n[2].URL("live"))
	pair(d, e, "lonely")
}
