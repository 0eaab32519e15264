package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/netlab"
)

// topology is two sites and the pair a call between them must end on,
// judged from one side's selected candidate pair (peer is the other
// side's site).
type topology struct {
	name string
	a, b netlab.Kind
	// want reports whether pair, seen from a peer in site self, is the
	// path this topology must take.
	want func(pair candidatePair, self, peer *netlab.Site) bool
}

var topologies = []topology{
	{"open", netlab.Open, netlab.Open, func(p candidatePair, self, peer *netlab.Site) bool {
		// host candidates, each at its own address
		return p.Local.Type == "host" && p.Remote.Type == "host" && p.Local.Protocol == "udp" &&
			p.Local.Address == self.Addr.String() && p.Remote.Address == peer.Addr.String()
	}},
	{"full-cone NATs", netlab.FullCone, netlab.FullCone, func(p candidatePair, self, peer *netlab.Site) bool {
		// Through the NATs' public addresses, which only STUN could tell:
		// a server-reflexive candidate at one end, the other learned from
		// the checks (prflx, whose address Chromium does not show) or
		// the host behind its NAT; no relay.
		if p.Local.Type == "relay" || p.Remote.Type == "relay" || p.Local.Protocol != "udp" {
			return false
		}
		if p.Local.Type == "srflx" && p.Local.Address != self.Public.String() ||
			p.Remote.Type == "srflx" && p.Remote.Address != peer.Public.String() {
			return false
		}
		return p.Local.Type == "srflx" || p.Remote.Type == "srflx"
	}},
	{"symmetric NATs", netlab.Symmetric, netlab.Symmetric, func(p candidatePair, _, _ *netlab.Site) bool {
		// through TURN: a relay candidate on one side at least, ours
		// allocated over UDP
		return (p.Local.Type == "relay" || p.Remote.Type == "relay") &&
			(p.Local.Type != "relay" || p.Local.RelayProtocol == "udp")
	}},
	{"UDP blocked, TCP 443 only", netlab.TCP443Only, netlab.Open, func(p candidatePair, self, _ *netlab.Site) bool {
		if self.Kind == netlab.TCP443Only {
			// our relay, reached over TLS on 443 (pion names no URL; the
			// firewall lets nothing else out)
			return p.Local.Type == "relay" && p.Local.RelayProtocol == "tls" && (p.Local.URL == "" || strings.Contains(p.Local.URL, ":443"))
		}
		return p.Remote.Type == "relay" && p.Local.Type == "host"
	}},
}

// TestNATTraversal: in each topology of the NAT lab, a call between two
// Chromium tabs of the demo page, between a Go peer (`duet peer`) and a
// tab, and between a tab and Ant Media's own SDK connects, and takes the
// path the topology allows: host candidates on open networks, the peer's
// server-reflexive address behind full-cone NATs (STUN), a TURN relay
// behind symmetric NATs, and TURN over TLS on port 443 from a network that
// drops UDP and allows only TCP to 443 — judged from each side's selected
// candidate pair (getStats; the Go peer's own report). Ant Media's SDK
// takes a single ICE server from duet (stunServerUri: TURN over UDP), so
// in the UDP-blocked topology it sits on the open side.
func TestNATTraversal(t *testing.T) {
	l := newNATLab(t)
	sites := map[netlab.Kind][]*netlab.Site{}
	site := func(k netlab.Kind, i int) *netlab.Site {
		for len(sites[k]) <= i {
			sites[k] = append(sites[k], l.lab.AddSite(k))
		}
		return sites[k][i]
	}
	for ti, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) {
			a, b := site(tp.a, 0), site(tp.b, 1)
			if tp.a != tp.b {
				b = site(tp.b, 0)
			}
			check := func(t *testing.T, who string, p candidatePair, self, peer *netlab.Site) {
				t.Helper()
				if !tp.want(p, self, peer) {
					t.Errorf("%s: selected pair %v: not the path of %s", who, p, tp.name)
				}
			}
			waitSide := func(t *testing.T, tab context.Context, pc, who string, self, peer *netlab.Site) {
				t.Helper()
				p := waitPair(t, tab, pc, who, func(p candidatePair) bool { return tp.want(p, self, peer) })
				t.Logf("%s: %v", who, p)
			}
			browserA, browserB := l.browser(t, a), l.browser(t, b)

			t.Run("two tabs", func(t *testing.T) {
				room := fmt.Sprintf("nat%d-tabs", ti)
				ta := openDemo(t, browserA, l.demoURL(room))
				waitJS(t, ta, "duetDemo.state === 'waiting'")
				tb := openDemo(t, browserB, l.demoURL(room))
				waitInCall(t, ta, tb)
				waitSide(t, ta, "duetDemo.call.pc", "tab in "+a.Kind.String(), a, b)
				waitSide(t, tb, "duetDemo.call.pc", "tab in "+b.Kind.String(), b, a)
				chat(t, ta, tb, "across "+tp.name)
			})

			t.Run("Go peer and a tab", func(t *testing.T) {
				room := fmt.Sprintf("nat%d-go", ti)
				g := l.startGoPeer(t, a, room)
				g.wait(t, "waiting")
				tb := openDemo(t, browserB, l.demoURL(room))
				waitJS(t, tb, "duetDemo.state === 'connected'")
				path := goPair(g.wait(t, "path"))
				t.Logf("Go peer in %s: %v", a.Kind, path)
				check(t, "Go peer in "+a.Kind.String(), path, a, b)
				waitVideoIfAny(t, tb)
				waitSide(t, tb, "duetDemo.call.pc", "tab in "+b.Kind.String(), b, a)
				fmt.Fprintln(g.stdin, "hello from the Go peer")
				waitJS(t, tb, "duetDemo.messages.some(m => m.who === 'peer' && m.text.trim() === 'hello from the Go peer')")
			})

			t.Run("tab and Ant Media SDK", func(t *testing.T) {
				room := fmt.Sprintf("nat%d-ams", ti)
				ta := openDemo(t, browserA, l.demoURL(room))
				waitJS(t, ta, "duetDemo.state === 'waiting'")
				tb := browsertest.NewTab(t, browserB)
				if err := chromedp.Do(tb, chromedp.Navigate(l.amsURL(room))); err != nil {
					t.Fatal(err)
				}
				amsWait := func(expr string) { browsertest.WaitJS(t, tb, expr, 30*time.Second, amsDescribe) }
				amsWait(`ams.events.includes('data_channel_opened')`)
				amsWait(`(() => { const v = document.getElementById('remote'); return v.videoWidth > 0 && v.currentTime > 0.3; })()`)
				waitVideoPlaying(t, ta)
				waitSide(t, ta, "duetDemo.call.pc", "tab in "+a.Kind.String(), a, b)
				waitSide(t, tb, fmt.Sprintf("adaptor.remotePeerConnection[%q]", room), "Ant Media SDK in "+b.Kind.String(), b, a)
			})
		})
	}
}

// waitVideoIfAny: a Go peer sends no video; the tab's call is up when its
// state says so, and its own camera still goes out.
func waitVideoIfAny(t *testing.T, tab context.Context) {
	t.Helper()
	waitJS(t, tab, "duetDemo.chatOpen === true")
}
