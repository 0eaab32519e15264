package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
)

// goMember is a Go peer in a mesh room reaching the cluster through its
// own balancer (a TCP proxy), with its pairs by the other member's name.
type goMember struct {
	name     string
	lb       *tcpproxy.Proxy
	m        *client.Mesh
	sessions map[string]client.MeshSession

	mu  sync.Mutex
	evs []client.PeerEvent
}

func (g *goMember) count(kind client.PeerEventKind, match func(client.PeerEvent) bool) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, e := range g.evs {
		if e.Kind == kind && (match == nil || match(e)) {
			n++
		}
	}
	return n
}

func (g *goMember) waitCount(t *testing.T, what string, want int, kind client.PeerEventKind, match func(client.PeerEvent) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for g.count(kind, match) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s: %d of %d %s events", g.name, what, g.count(kind, match), want, kind)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func joinGoMember(t *testing.T, ctx context.Context, lb *tcpproxy.Proxy, app, room, name string) *goMember {
	t.Helper()
	g := &goMember{name: name, lb: lb, sessions: map[string]client.MeshSession{}}
	c, err := client.Dial(ctx, lb.URL(app), &client.Options{ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hello, _ := json.Marshal(map[string]string{"name": name})
	g.m, err = client.JoinMesh(ctx, c, room, &client.MeshOptions{MaxPeers: 8, Peer: client.PeerOptions{Loopback: true, Hello: hello,
		OnEvent: func(e client.PeerEvent) { g.mu.Lock(); g.evs = append(g.evs, e); g.mu.Unlock() }}})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { g.m.Close() })
	return g
}

func (g *goMember) accept(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for range n {
		s, err := g.m.Accept(ctx)
		if err != nil {
			t.Fatalf("%s: accept: %v", g.name, err)
		}
		var h struct{ Name string }
		json.Unmarshal(s.Hello(), &h)
		g.sessions[h.Name] = s
	}
}

// talkAll: every member sends every other a line on their pair's data
// channel, and every line arrives.
func talkAll(t *testing.T, ctx context.Context, ms []*goMember, tag string) {
	t.Helper()
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				if err := a.sessions[b.name].SendText(ctx, tag+" "+a.name+">"+b.name); err != nil {
					t.Fatalf("%s: %s to %s: %v", tag, a.name, b.name, err)
				}
			}
		}
	}
	for _, a := range ms {
		for _, b := range ms {
			if a == b {
				continue
			}
			m, err := b.sessions[a.name].Recv(ctx)
			if want := tag + " " + a.name + ">" + b.name; err != nil || string(m.Data) != want {
				t.Fatalf("%s: %s got %q (%v), want %q", tag, b.name, m.Data, err, want)
			}
		}
	}
}

// TestMeshGoPeersAcrossNodes is the cluster version of the mesh proof with
// Go peers: six members of one mesh room, two on each of three duet nodes
// (processes of the real binary, clustered on the NATS server the first
// embeds), each behind its own balancer, every pair connected peer to
// peer. The second node is drained, its members' balancers send them to
// the third; then the third is killed (SIGKILL: no drain, no goodbye) and
// its members go to the second, restarted. Each time the moved members
// take their seats back with their tokens, the others hear they are back,
// and every pair keeps its PeerConnection (no new negotiation, no session
// ended) and still talks.
func TestMeshGoPeersAcrossNodes(t *testing.T) {
	bin := buildDuet(t)
	natsAddr := freeLoopback(t)
	node := func(id string, args ...string) *duetProc {
		return startDuet(t, bin, "127.0.0.1:0", append([]string{"--node-id", id, "--drain-timeout", "3s", "--max-peers", "mesh=8"}, args...)...)
	}
	n1 := node("n1", "--nats-embedded", "--nats-embedded-listen", natsAddr, "--nats-store-dir", t.TempDir())
	n2 := node("n2", "--nats-url", "nats://"+natsAddr)
	n3 := node("n3", "--nats-url", "nats://"+natsAddr)
	nodes := []*duetProc{n1, n2, n3}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	var ms []*goMember
	for i, name := range []string{"a", "b", "c", "d", "e", "f"} {
		g := joinGoMember(t, ctx, tcpproxy.Start(t, nodes[i%3].addr), "mesh", "spread", name)
		ms = append(ms, g)
	}
	for _, g := range ms {
		g.accept(t, ctx, len(ms)-1)
	}
	talkAll(t, ctx, ms, "before")
	onNode := func(i int) []*goMember { return []*goMember{ms[i], ms[i+3]} }

	resumed := map[*goMember]int{}
	for _, step := range []struct {
		fault    string
		from, to *duetProc
		movers   []*goMember
	}{
		{"drain", n2, n3, onNode(1)},
		{"kill", n3, n2, append(onNode(1), onNode(2)...)},
	} {
		if step.fault == "kill" {
			n2.restart(t)
		}
		for _, g := range step.movers {
			g.lb.SetBackend(step.to.addr)
		}
		start := time.Now()
		if step.fault == "drain" {
			step.from.drain(t)
		} else {
			step.from.kill(t)
		}
		for _, g := range step.movers {
			resumed[g]++
			g.waitCount(t, step.fault+": seat taken back", resumed[g], client.EventJoined, func(e client.PeerEvent) bool { return e.Resumed })
		}
		t.Logf("%s: %d members back on another node after %v", step.fault, len(step.movers), time.Since(start).Round(time.Millisecond))
		for _, g := range ms {
			if slices.Contains(step.movers, g) {
				continue
			}
			for _, mv := range step.movers {
				id := g.sessions[mv.name].Peer
				g.waitCount(t, step.fault+": "+mv.name+" back", resumed[mv], client.EventPeerReconnected,
					func(e client.PeerEvent) bool { return e.Peer == id })
			}
		}
		talkAll(t, ctx, ms, "after the "+step.fault)
		for _, g := range ms {
			if n := g.count(client.EventSessionEnd, nil); n != 0 {
				t.Errorf("%s: %s: %d sessions ended", step.fault, g.name, n)
			}
			if n := g.count(client.EventNegotiating, nil); n != len(ms)-1 {
				t.Errorf("%s: %s made %d PeerConnections, want %d", step.fault, g.name, n, len(ms)-1)
			}
		}
	}
	// No check that every member heard someone come back: b and e move in
	// both steps, each time beside the others that move, and whoever takes
	// its seat back last finds the others back already (its joined says
	// so), without a peerReconnected. The members that stayed put were
	// checked at each step.
}

// describe lists g's events, for a failure's log.
func (g *goMember) describe() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, e := range g.evs {
		s := string(e.Kind) + " " + e.Peer
		if e.Reason != "" {
			s += " " + e.Reason
		}
		if e.Err != nil {
			s += " (" + e.Err.Error() + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}
