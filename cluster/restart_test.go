package cluster_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster"
)

// TestNATSRestartUnderLoad stops the NATS server while pairs relay, checks
// that joins are refused meanwhile, restarts it on the same port and store,
// and checks that nothing crashed, the pairs still relay, joins resume and
// no room stays stuck.
func TestNATSRestartUnderLoad(t *testing.T) {
	dir := t.TempDir()
	ns, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ns.URL())
	nodes := []*node{startNode(t, ns.URL(), "n1"), startNode(t, ns.URL(), "n2"), startNode(t, ns.URL(), "n3")}

	const pairs = 6
	type duo struct {
		a, b *client
		in   <-chan msg
		room string
	}
	var duos []duo
	for i := range pairs {
		a, b := dial(t, nodes[i%3].URL("live")), dial(t, nodes[(i+1)%3].URL("live"))
		room := fmt.Sprintf("load%d", i)
		pair(a, b, room)
		a.keepReading()
		duos = append(duos, duo{a, b, b.collect(), room})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, d := range duos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// About 1,000 candidates a second per pair: far above what
			// call setup sends, paced so that the load is steady.
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				frame := fmt.Appendf(nil, `{"command":"takeCandidate","streamId":"%s","label":0,"id":"0","candidate":"c%d"}`, d.room, i)
				if d.a.ws.WriteMessage(1, frame) != nil {
					return
				}
				if d.a.ws.WriteMessage(1, frame) != nil {
					return
				}
			}
		}()
	}

	began := time.Now()
	z := dial(t, nodes[2].URL("live"))
	join(z, "underload")
	z.expect("notification", "joined")
	t.Logf("join under load took %v", time.Since(began))
	z.ws.Close()
	ns.Shutdown()
	for _, n := range nodes {
		eventually(t, "nodes to notice the outage", func() bool {
			_, body := httpGet(t, n.HTTP()+"/metrics")
			return strings.Contains(body, "duet_cluster_nats_connected 0")
		})
	}
	x := dial(t, nodes[0].URL("live"))
	join(x, "during")
	x.expect("error", "serviceUnavailable")

	ns2, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Listen: u.Host, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns2.Shutdown)
	t.Cleanup(func() { // before ns2 goes
		for _, n := range nodes {
			n.Stop(t)
			n.cl.Close()
		}
	})
	restarted := time.Now()
	eventually(t, "joins to resume", func() bool {
		join(x, "after")
		return x.read().str("definition") == "joined"
	})
	t.Logf("joins resumed %v after NATS came back", time.Since(restarted))
	y := dial(t, nodes[1].URL("live")) // another node, which may recover a moment later
	eventually(t, "joins to resume on the second node", func() bool {
		join(y, "after")
		return y.read().str("definition") == "joined"
	})
	x.expect("start", "")

	// Frames relayed to a node still cut off are lost (core NATS delivers
	// at most once); the markers below go once every node is back.
	for _, n := range nodes {
		eventually(t, "every node to recover", func() bool {
			_, body := httpGet(t, n.HTTP()+"/metrics")
			return strings.Contains(body, "duet_cluster_nats_connected 1")
		})
	}
	close(stop)
	wg.Wait()
	t.Logf("load stopped %v after NATS came back", time.Since(restarted))
	// The pairs survived the outage: a marker sent now arrives after the
	// load, in order.
	for _, d := range duos {
		d.a.send(msg{"command": "peerMessageCommand", "streamId": d.room, "definition": "marker", "data": "end"})
		for {
			m := next(t, d.in, 10*time.Second)
			if m.str("command") == "peerMessageCommand" {
				break
			}
			if m.str("command") != "takeCandidate" {
				t.Fatalf("pair %s got %v", d.room, m)
			}
		}
	}
	// No stuck room: once everyone has gone, new peers pair in every room.
	for _, d := range duos {
		d.a.ws.Close()
		d.b.ws.Close()
	}
	x.ws.Close()
	y.ws.Close()
	eventually(t, "every room forgotten", func() bool { return roomsEverywhere(nodes) == 0 })
	t.Logf("rooms forgotten %v after NATS came back", time.Since(restarted))
	for i, d := range duos {
		p, q := dial(t, nodes[(i+2)%3].URL("live")), dial(t, nodes[i%3].URL("live"))
		pair(p, q, d.room)
		p.ws.Close()
		q.ws.Close()
	}
}
