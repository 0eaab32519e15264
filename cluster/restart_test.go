package cluster_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/wstest"

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
		a, b := wstest.Dial(t, nodes[i%3].URL("live")), wstest.Dial(t, nodes[(i+1)%3].URL("live"))
		room := fmt.Sprintf("load%d", i)
		wstest.Pair(a, b, room)
		a.KeepReading()
		duos = append(duos, duo{a, b, b.Collect(), room})
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
				if d.a.WS.WriteMessage(1, frame) != nil {
					return
				}
				if d.a.WS.WriteMessage(1, frame) != nil {
					return
				}
			}
		}()
	}

	began := time.Now()
	z := wstest.Dial(t, nodes[2].URL("live"))
	wstest.Join(z, "underload")
	z.Expect("notification", "joined")
	t.Logf("join under load took %v", time.Since(began))
	z.WS.Close()
	ns.Shutdown()
	for _, n := range nodes {
		wstest.Eventually(t, "nodes to notice the outage", func() bool {
			_, body := wstest.HTTPGet(t, n.HTTP()+"/metrics")
			return strings.Contains(body, "duet_cluster_nats_connected 0")
		})
	}
	x := wstest.Dial(t, nodes[0].URL("live"))
	wstest.Join(x, "during")
	x.Expect("error", "serviceUnavailable")

	restartNATS(t, u.Host, dir, nodes)
	restarted := time.Now()
	wstest.Eventually(t, "joins to resume", func() bool {
		wstest.Join(x, "after")
		return x.Read().Str("definition") == "joined"
	})
	t.Logf("joins resumed %v after NATS came back", time.Since(restarted))
	y := wstest.Dial(t, nodes[1].URL("live")) // another node, which may recover a moment later
	wstest.Eventually(t, "joins to resume on the second node", func() bool {
		wstest.Join(y, "after")
		return y.Read().Str("definition") == "joined"
	})
	x.Expect("start", "")

	// Frames relayed meanwhile are held by the links and delivered once
	// their node is back (TestRelayAcrossNATSOutage checks them one by
	// one); the markers below go once every node is back.
	for _, n := range nodes {
		wstest.Eventually(t, "every node to recover", func() bool {
			_, body := wstest.HTTPGet(t, n.HTTP()+"/metrics")
			return strings.Contains(body, "duet_cluster_nats_connected 1")
		})
	}
	close(stop)
	wg.Wait()
	t.Logf("load stopped %v after NATS came back", time.Since(restarted))
	// The pairs survived the outage: a marker sent now arrives after the
	// load, in order.
	for _, d := range duos {
		d.a.Send(msg{"command": "peerMessageCommand", "streamId": d.room, "definition": "marker", "data": "end"})
		for {
			m := wstest.Next(t, d.in, 10*time.Second)
			if m.Str("command") == "peerMessageCommand" {
				break
			}
			if m.Str("command") != "takeCandidate" {
				t.Fatalf("pair %s got %v", d.room, m)
			}
		}
	}
	// No stuck room: once everyone has gone, new peers pair in every room.
	for _, d := range duos {
		d.a.WS.Close()
		d.b.WS.Close()
	}
	x.WS.Close()
	y.WS.Close()
	wstest.Eventually(t, "every room forgotten", func() bool { return roomsEverywhere(nodes) == 0 })
	t.Logf("rooms forgotten %v after NATS came back", time.Since(restarted))
	for i, d := range duos {
		p, q := wstest.Dial(t, nodes[(i+2)%3].URL("live")), wstest.Dial(t, nodes[i%3].URL("live"))
		wstest.Pair(p, q, d.room)
		p.WS.Close()
		q.WS.Close()
	}
}
