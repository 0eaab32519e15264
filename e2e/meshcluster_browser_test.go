package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
)

// TestGroupAcrossNodes is the mesh proof on a cluster: four Chromium tabs of
// the group page and one Go peer in one mesh room, spread over three duet
// nodes (processes of the real binary; the first embeds NATS), each behind
// its own balancer. Every tab decodes every other tab's video and talks to
// the Go peer. The second node is drained (its members' balancers send
// them to the third), then the third is killed (SIGKILL) and its members,
// the Go peer among them, go to the second, restarted. Each time the moved
// members take their seats back; nobody is shown leaving, every pair keeps
// its RTCPeerConnection, every tile plays again, the chat reaches everyone,
// and, where this machine presents frames often enough to measure it, no
// tile's video pauses longer than 500 ms.
func TestGroupAcrossNodes(t *testing.T) {
	bin := buildDuet(t)
	natsAddr := freeLoopback(t)
	node := func(id string, args ...string) *duetProc {
		return startDuet(t, bin, "127.0.0.1:0", append([]string{"--node-id", id, "--drain-timeout", "3s", "--max-peers", "WebRTCAppEE=6"}, args...)...)
	}
	n1 := node("n1", "--nats-embedded", "--nats-embedded-listen", natsAddr, "--nats-store-dir", t.TempDir())
	n2 := node("n2", "--nats-url", "nats://"+natsAddr)
	n3 := node("n3", "--nats-url", "nats://"+natsAddr)
	browser := browsertest.Browser(t)
	wait := func(tab context.Context, expr string) {
		t.Helper()
		browsertest.WaitJS(t, tab, expr, 90*time.Second, groupDescribe)
	}

	names := []string{"ann", "bob", "cat", "dan"}
	homes := []*duetProc{n1, n2, n3, n2}
	var tabs []context.Context
	var lbs []*tcpproxy.Proxy
	for i, n := range names {
		lb := tcpproxy.Start(t, homes[i].addr)
		lbs = append(lbs, lb)
		tab := browsertest.NewTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(n1.http()+"/group?room=spread&name="+n+"&ws="+lb.URL("WebRTCAppEE"))); err != nil {
			t.Fatal(err)
		}
		wait(tab, `window.duetGroup && duetGroup.state === 'connected'`)
		tabs = append(tabs, tab)
	}
	lbGo := tcpproxy.Start(t, n3.addr)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	gp := joinGoMember(t, ctx, lbGo, "WebRTCAppEE", "spread", "gopher")
	goPeer := gp.m.ID()
	sessions := map[string]client.MeshSession{}
	dump := func() {
		t.Logf("go peer %s: %s", goPeer, gp.describe())
		for k, tab := range tabs {
			t.Logf("%s: %s", names[k], evalJS[string](t, tab, groupDescribe))
		}
	}
	for range len(tabs) {
		actx, cancel := context.WithTimeout(ctx, 90*time.Second)
		s, err := gp.m.Accept(actx)
		cancel()
		if err != nil {
			dump()
			t.Fatalf("go peer: %v", err)
		}
		sessions[s.Peer] = s
	}

	// Every tab plays the other tabs' video, and has the Go peer's call.
	playing := fmt.Sprintf(`duetGroup.mesh.peers.size === 4 && duetGroup.mesh.peers.has(%q) && Object.keys(duetGroup.names).length === 3 &&
		Object.keys(duetGroup.names).every((id) => { const v = duetGroup.tiles[id] && duetGroup.tiles[id].video;
			return v && v.videoWidth > 0 && v.currentTime > 0.5; })`, goPeer)
	for _, tab := range tabs {
		wait(tab, playing)
	}
	chatAll := func(from int, text string) {
		t.Helper()
		groupChat(t, tabs, names, wait, from, text)
		fromID := evalJS[string](t, tabs[from], `duetGroup.id`)
		if sessions[fromID].Session == nil {
			t.Fatalf("go peer: no session with %s", names[from])
		}
		for {
			m, err := sessions[fromID].Recv(ctx)
			if err != nil {
				t.Fatalf("go peer: chat from %s: %v", names[from], err)
			}
			var c struct{ Type, Text string }
			if json.Unmarshal(m.Data, &c) == nil && c.Type == "chat" && c.Text == text {
				break
			}
		}
	}
	chatAll(0, "hello everyone")

	// The video of every other tab, by member id (stable over a resume).
	watch := strings.Replace(groupWatchJS, `for (const [id, call] of g.mesh.peers) {`,
		`for (const [id, call] of g.mesh.peers) { if (!(id in g.names)) continue;`, 1)
	for _, tab := range tabs {
		evalJS[bool](t, tab, watch)
	}
	measurable := groupMeasurable(t, tabs, names)

	moved := map[int]int{} // tab → times moved
	for i, step := range []struct {
		fault    string
		from, to *duetProc
		tabs     []int
		goPeer   bool
	}{
		{"drain", n2, n3, []int{1, 3}, false},
		{"kill", n3, n2, []int{1, 2, 3}, true},
	} {
		if step.fault == "kill" {
			n2.restart(t)
		}
		for _, tab := range tabs {
			evalJS[bool](t, tab, "gwatch.reset()")
		}
		for _, k := range step.tabs {
			lbs[k].SetBackend(step.to.addr)
			moved[k]++
		}
		if step.goPeer {
			lbGo.SetBackend(step.to.addr)
		}
		start := time.Now()
		if step.fault == "drain" {
			step.from.drain(t)
		} else {
			step.from.kill(t)
		}
		for _, k := range step.tabs {
			wait(tabs[k], fmt.Sprintf(`duetGroup.counts.joined >= %d`, moved[k]+1))
		}
		if step.goPeer {
			gp.waitCount(t, step.fault+": seat taken back", 1, client.EventJoined, func(e client.PeerEvent) bool { return e.Resumed })
		}
		t.Logf("%s: members back on another node after %v", step.fault, time.Since(start).Round(time.Millisecond))
		for _, tab := range tabs {
			wait(tab, playing)
		}
		watchFor(t, tabs, time.Second) // a stretch of media after the move, measured too
		for k, tab := range tabs {
			var rep map[string]struct {
				Max    float64 `json:"max"`
				SamePC bool    `json:"samePC"`
			}
			s := evalJS[string](t, tab, "gwatch.read()")
			if err := json.Unmarshal([]byte(s), &rep); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s: %s", step.fault, names[k], s)
			if len(rep) != 3 {
				t.Errorf("%s: %s watches %d tiles, want 3", step.fault, names[k], len(rep))
			}
			for sess, r := range rep {
				if !r.SamePC {
					t.Errorf("%s: %s: the call with %s moved to a new RTCPeerConnection", step.fault, names[k], sess)
				}
				if measurable && r.Max > float64(maxRestartGap.Milliseconds()) {
					t.Errorf("%s: %s: a tile's video paused %.0f ms, more than %v", step.fault, names[k], r.Max, maxRestartGap)
				}
			}
			if !evalJS[bool](t, tab, fmt.Sprintf(`duetGroup.mesh.peers.has(%q)`, goPeer)) {
				t.Errorf("%s: %s lost the Go peer", step.fault, names[k])
			}
		}
		if n := gp.count(client.EventSessionEnd, nil); n != 0 {
			dump()
		}
		chatAll(i+1, "after the "+step.fault)
		if n := gp.count(client.EventSessionEnd, nil); n != 0 {
			t.Errorf("%s: the Go peer's sessions ended: %d", step.fault, n)
		}
		if n := gp.count(client.EventNegotiating, nil); n != len(tabs) {
			t.Errorf("%s: the Go peer made %d PeerConnections, want %d", step.fault, n, len(tabs))
		}
	}
	for k, tab := range tabs {
		if n := evalJS[int](t, tab, "duetGroup.counts.peerGone"); n != 0 {
			t.Errorf("%s: %d members were shown leaving", names[k], n)
		}
	}
}
