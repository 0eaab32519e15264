package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
)

// TestCallSurvivesNodeFailover is issue #12's cluster proof: two tabs in a
// call through three duet nodes (processes of the real binary, clustered
// on the NATS server the first one embeds), Alice's socket on n1, Bob's on
// another node. Each tab reaches the cluster through its own TCP proxy,
// the load balancer of a real deployment (duet.js takes one URL): when
// Bob's node goes, his proxy sends new sockets to a node that is up, as a
// balancer that health-checks /readyz does. Bob's node is drained
// (SIGTERM), then the node he moved to is killed (SIGKILL: no drain, no
// goodbye), then the node he moved to is killed while his balancer takes
// a few seconds to notice. Each time Bob reconnects to another node and takes his held
// (or half-open) seat back with his resume token; Alice is told he is
// back (and reconnecting, when his seat waited for him), never stop; neither renegotiates, both keep
// their RTCPeerConnection, the remote video never pauses longer than
// 500 ms, and the chat (the same data channel) still works.
func TestCallSurvivesNodeFailover(t *testing.T) {
	bin := buildDuet(t)
	natsAddr := freeLoopback(t)
	node := func(id string, args ...string) *duetProc {
		return startDuet(t, bin, "127.0.0.1:0", append([]string{"--node-id", id, "--drain-timeout", "3s"}, args...)...)
	}
	n1 := node("n1", "--nats-embedded", "--nats-embedded-listen", natsAddr, "--nats-store-dir", t.TempDir())
	n2 := node("n2", "--nats-url", "nats://"+natsAddr)
	n3 := node("n3", "--nats-url", "nats://"+natsAddr)
	lbAlice, lbBob := tcpproxy.Start(t, n1.addr), tcpproxy.Start(t, n2.addr)
	browser := browsertest.Browser(t)
	page := n1.http() + "/?room=failover&ws="

	alice := openDemo(t, browser, page+lbAlice.URL("WebRTCAppEE"))
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, page+lbBob.URL("WebRTCAppEE"))
	waitInCall(t, alice, bob)
	call := watchCall(t, []string{"alice", "bob"}, alice, bob)
	chat(t, alice, bob, "before the failovers")

	for i, step := range []struct {
		fault string
		from  *duetProc // Bob's node, which goes
		to    *duetProc // where his balancer sends him
		slow  bool      // the balancer sends him nowhere until the others have declared his node dead
	}{{"drain", n2, n3, false}, {"kill", n3, n2, false}, {"kill, slow balancer", n2, n3, true}} {
		call.reset()
		lbBob.SetBackend(step.to.addr)
		if step.slow {
			lbBob.SetBackend("127.0.0.1:1") // nothing listens: his new sockets fail
		}
		start := time.Now()
		if step.fault == "drain" {
			step.from.drain(t)
		} else {
			step.from.kill(t)
		}
		if step.slow {
			// The survivors hold his seat when they declare his node dead.
			waitJS(t, alice, "watch.in.includes('notification:peerReconnecting')")
			t.Logf("%s: Alice told peerReconnecting %v after the kill", step.fault, time.Since(start).Round(time.Millisecond))
			lbBob.SetBackend(step.to.addr)
		}
		waitJS(t, bob, fmt.Sprintf("duetDemo.counts.joined >= %d && duetDemo.call.signaling === 'open' && duetDemo.state === 'connected'", i+2))
		waitJS(t, alice, "watch.in.includes('notification:peerReconnected')")
		t.Logf("%s: Bob back on another node after %v", step.fault, time.Since(start).Round(time.Millisecond))
		// Measure over a stretch of media after the move too.
		waitVideoPlaying(t, alice)
		waitVideoPlaying(t, bob)
		reports := call.check("node "+step.fault, maxRestartGap)
		for j, r := range reports {
			if r.received("takeConfiguration") {
				t.Errorf("%s: %s renegotiated: %v", step.fault, call.names[j], r.In)
			}
		}
		if !evalJS[bool](t, bob, fmt.Sprintf("duetDemo.log.filter(e => e.event === 'joined' && e.detail.resumed).length === %d", i+1)) {
			t.Errorf("%s: Bob did not take his seat back: %v", step.fault, reports[1].In)
		}
		if n := evalJS[int](t, alice, "duetDemo.counts.joined"); n != 1 {
			t.Errorf("%s: Alice, whose node stayed up, joined %d times", step.fault, n)
		}
		chat(t, alice, bob, "after the node "+step.fault)
		chat(t, bob, alice, "still here after the node "+step.fault)
		step.from.restart(t) // a new life of the node, for the next step
	}
	for _, tab := range []struct {
		name string
		n    int
	}{{"alice", evalJS[int](t, alice, "duetDemo.counts.peerLeft")}, {"bob", evalJS[int](t, bob, "duetDemo.counts.peerLeft")}} {
		if tab.n != 0 {
			t.Errorf("%s's page showed 'peer left' %d times", tab.name, tab.n)
		}
	}
}

// freeLoopback is a loopback address whose port was free a moment ago.
func freeLoopback(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
