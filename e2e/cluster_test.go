package e2e

import (
	"context"
	"testing"

	"github.com/duet-rtc/duet/web"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// TestDemoCallAcrossNodes: two browsers open the demo page on two
// different duet nodes clustered on NATS, as a load balancer would send
// them, and get a call: video both ways and chat.
func TestDemoCallAcrossNodes(t *testing.T) {
	nats, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	node := func(id string) *testserver.Server {
		reg := prometheus.NewRegistry()
		cl, err := cluster.New(context.Background(), cluster.Options{URL: nats.URL(), NodeID: id, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close) // after the node's drain, registered next
		return testserver.Start(t, config.Default(), server.Options{Mount: web.Mount, Rooms: cl, Registry: reg})
	}
	n1, n2 := node("n1"), node("n2")
	browser := browsertest.Browser(t)

	alice := openDemo(t, browser, roomURL(n1, "across"))
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, roomURL(n2, "across"))
	waitJS(t, alice, "duetDemo.state === 'connected'")
	waitJS(t, bob, "duetDemo.state === 'connected'")
	if n1.Connections() != 1 || n2.Connections() != 1 {
		t.Fatalf("sockets per node: %d and %d, want 1 and 1", n1.Connections(), n2.Connections())
	}
	waitVideoPlaying(t, alice)
	waitVideoPlaying(t, bob)
	chat(t, alice, bob, "hello across the cluster")
	chat(t, bob, alice, "loud and clear")

	evalJS[bool](t, bob, "document.getElementById('leave').click(), true")
	waitJS(t, alice, "duetDemo.counts.peerLeft === 1 && duetDemo.state === 'waiting'")
}
