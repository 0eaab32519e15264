package cluster_test

import (
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/wstest"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/config"
)

// TestDeadMemberEvictedOnRejoinAcrossNodes is the mobile reconnect with the
// old socket on one node and the new one on another: the old socket is
// probed over NATS, does not answer, is evicted and dropped by its node.
func TestDeadMemberEvictedOnRejoinAcrossNodes(t *testing.T) {
	n := startCluster(t, 3, func(c *config.Config) { c.ProbeTimeout = 300 * time.Millisecond })
	a, oldB := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[1].URL("live"))
	wstest.Pair(a, oldB, "r")
	got := a.Collect()
	// oldB stops reading: it answers no ping, like a phone that left the network.
	newB := wstest.Dial(t, n[2].URL("live"))
	began := time.Now()
	wstest.Join(newB, "r")
	newB.Expect("notification", "joined")
	t.Logf("rejoin admitted after %v", time.Since(began))
	if ev := n[2].Rooms().Stats().Evictions; ev != 1 {
		t.Fatalf("evictions on the joiner's node = %d, want 1", ev)
	}
	if code, _ := oldB.Closed(); code != websocket.CloseAbnormalClosure {
		t.Fatalf("old socket close code %d, want a dropped socket", code)
	}
	// The survivor's view: stop (its partner is gone), then start.
	for _, want := range []string{"stop", "start"} {
		if m := wstest.Next(t, got, 5*time.Second); m.Str("command") != want {
			t.Fatalf("survivor got %v, want %s", m, want)
		}
	}
	newB.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "answer", "sdp": "v=0"})
	if m := wstest.Next(t, got, 5*time.Second); m.Str("command") != "takeConfiguration" {
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
			clients = append(clients, wstest.Dial(t, n[i%3].URL("live")))
		}
		chans := make([]<-chan msg, len(clients))
		for i, c := range clients {
			chans[i] = c.Collect() // every peer answers probes
		}
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.WS.WriteMessage(websocket.TextMessage, []byte(`{"command":"join","streamId":"`+room+`"}`))
			}()
		}
		wg.Wait()
		joined, refused, starts := 0, 0, 0
		for i := range clients {
			switch m := wstest.Next(t, chans[i], 10*time.Second); {
			case m.Str("definition") == "joined":
				joined++
			case m.Str("definition") == "NoSpaceForNewPeer":
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
			c.Send(msg{"command": "ping"})
			for {
				m := wstest.Next(t, chans[i], 5*time.Second)
				if m.Str("command") == "pong" {
					break
				}
				if m.Str("command") != "start" {
					t.Fatalf("peer %d got %v", i, m)
				}
				starts++
			}
		}
		if starts != 1 {
			t.Fatalf("round %d: %d starts, want 1", round, starts)
		}
		for _, c := range clients {
			c.WS.Close()
		}
	}
	wstest.Eventually(t, "every room forgotten", func() bool { return roomsEverywhere(n) == 0 })
}

// TestNodeDeath kills a node mid-call the hard way (its NATS connection
// cut without a goodbye, its sockets gone): the partner on a surviving
// node gets stop within 3 s, and the room takes a new peer.
func TestNodeDeath(t *testing.T) {
	n := startCluster(t, 3)
	a, b := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[1].URL("live"))
	wstest.Pair(a, b, "call")
	a.Send(msg{"command": "takeConfiguration", "streamId": "call", "type": "offer", "sdp": "v=0"})
	b.Expect("takeConfiguration", "")
	// A room whose only member is on the dying node must not stay blocked.
	lonely := wstest.Dial(t, n[1].URL("live"))
	wstest.Join(lonely, "lonely")
	lonely.Expect("notification", "joined")

	got := a.Collect()
	killed := time.Now()
	n[1].cl.Abort()
	b.WS.Close()
	lonely.WS.Close()
	go n[1].Stop(t) // the transport goes too; its drain cannot reach NATS

	m := wstest.Next(t, got, 5*time.Second)
	took := time.Since(killed)
	if m.Str("command") != "stop" || m.Str("streamId") != "call" {
		t.Fatalf("survivor got %v, want stop", m)
	}
	t.Logf("partner on a surviving node got stop %v after the kill", took)
	if took > 3*time.Second {
		t.Fatalf("stop came after %v, want within 3s", took)
	}
	c := wstest.Dial(t, n[2].URL("live"))
	wstest.Join(c, "call")
	c.Expect("notification", "joined")
	if m := wstest.Next(t, got, 5*time.Second); m.Str("command") != "start" {
		t.Fatalf("survivor got %v, want start", m)
	}
	// The dead node's lonely member is replaced by the next joiner, who
	// waits (no start to a ghost) and pairs with the one after.
	d, e := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[2].URL("live"))
	wstest.Pair(d, e, "lonely")
}
