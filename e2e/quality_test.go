package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/hookrecv"
	"github.com/duet-rtc/duet/internal/testkit/opsnodes"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/web"
	"github.com/duet-rtc/duet/webhook"
)

const (
	qualityKey    = "quality-test-admin-key-0123456789abcdef"
	qualitySecret = "quality-test-webhook-secret"
)

// qualityNodes runs n nodes (clustered on NATS when n > 1) serving the
// demo, with the admin API and webhooks to h; mount adds handlers.
func qualityNodes(t *testing.T, n int, h *hookrecv.Receiver, change func(*config.Config), mount func(*http.ServeMux)) []*testserver.Server {
	t.Helper()
	recv := httptest.NewServer(h)
	t.Cleanup(recv.Close)
	c := config.Default()
	c.DrainTimeout = 5 * time.Second
	c.AdminKey, c.WebhookURLs, c.WebhookSecret = qualityKey, []string{recv.URL}, qualitySecret
	if change != nil {
		change(&c)
	}
	return opsnodes.Start(t, n, c, opsnodes.Options{Mount: func(mux *http.ServeMux) {
		web.Mount(mux)
		if mount != nil {
			mount(mux)
		}
	}})
}

// metricSum sums one sample over the nodes' /metrics.
func metricSum(t *testing.T, nodes []*testserver.Server, sample string) float64 {
	t.Helper()
	sum := 0.0
	for _, n := range nodes {
		_, body := wstest.HTTPGet(t, n.HTTP()+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, sample+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
	}
	return sum
}

// liveQuality waits until the admin API, asked of node, shows the live
// quality of both members of room, each with at least reports reports.
func liveQuality(t *testing.T, node *testserver.Server, room string, reports uint32) admin.RoomResponse {
	t.Helper()
	cl := &admin.Client{URL: node.HTTP(), Key: qualityKey}
	var r admin.RoomResponse
	wstest.Eventually(t, "live quality of both members", func() bool {
		var err error
		r, err = cl.Room(context.Background(), "WebRTCAppEE", room)
		if err != nil || len(r.Quality) != 2 {
			return false
		}
		for _, q := range r.Quality {
			if q.Reports < reports {
				return false
			}
		}
		return true
	})
	return r
}

// checkRecord checks the one call_ended of room: its reason, a duration
// within [lo, hi], and the quality both members reported.
func checkRecord(t *testing.T, h *hookrecv.Receiver, room, reason string, lo, hi time.Duration) webhook.Payload {
	t.Helper()
	wstest.Eventually(t, "call_ended", func() bool { return len(h.Events("call_ended")) > 0 })
	ended := h.Events("call_ended")
	if len(ended) != 1 {
		t.Fatalf("%d call_ended events, want 1", len(ended))
	}
	p := ended[0]
	if p.Room != room || p.Reason != reason || p.DurationMs == nil {
		t.Fatalf("call_ended = %+v", p)
	}
	if d := time.Duration(*p.DurationMs) * time.Millisecond; d < lo || d > hi {
		t.Fatalf("call_ended durationMs = %v, want between %v and %v", d, lo, hi)
	}
	q := p.Quality
	if q == nil || len(q.Members) != 2 || q.TURN || q.Candidate != "host" || q.SetupMs == nil || *q.SetupMs == 0 {
		t.Fatalf("call_ended quality = %+v", q)
	}
	for _, m := range q.Members {
		if m.Reports < 2 || m.RTTMs == nil || m.RTTMs.Max <= 0 || m.LocalCandidate != "host" || m.Transport != "udp" ||
			m.ICERestarts != 0 || m.Resumes != 0 || m.SetupMs == nil {
			t.Fatalf("member quality = %+v", m)
		}
	}
	return p
}

// TestCallQualityInBrowsers: two Chromium tabs of the demo page report
// their call's quality — to duet, on one node and with the tabs on two of
// three nodes. The metrics move, the admin API shows the call's live
// quality, each tab's signal indicator shows the grades, and the hang-up's
// call_ended, sent once, carries the call's duration, path, RTT and
// counts.
func TestCallQualityInBrowsers(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+"nodes", func(t *testing.T) {
			h := hookrecv.New(qualitySecret)
			nodes := qualityNodes(t, n, h, nil, nil)
			browser := browsertest.Browser(t)
			url := func(node *testserver.Server) string { return node.HTTP() + "/?quality=1000&room=q" + strconv.Itoa(n) }
			room := "q" + strconv.Itoa(n)
			alice := openDemo(t, browser, url(nodes[0]))
			waitJS(t, alice, "duetDemo.state === 'waiting'")
			opened := time.Now() // the call cannot have started before
			bob := openDemo(t, browser, url(nodes[n-1]))
			waitJS(t, alice, "duetDemo.state === 'connected'")
			waitJS(t, bob, "duetDemo.state === 'connected'")
			start := time.Now()
			for _, tab := range []context.Context{alice, bob} {
				// The partner's reports reach the tab: both ends graded,
				// and the indicator shows it.
				waitJS(t, tab, `duetDemo.quality && duetDemo.quality.remote !== 'unknown' && duetDemo.quality.local !== 'unknown' &&
					!document.getElementById('signal').hidden &&
					document.getElementById('signal').dataset.level === duetDemo.quality.level`)
			}
			live := liveQuality(t, nodes[0], room, 2)
			for id, q := range live.Quality {
				if q.LocalCandidate != "host" || q.RTTMs == nil || len(q.History) < 2 || q.Level == "" {
					t.Fatalf("live quality of %s = %+v", id, q)
				}
			}
			if got := metricSum(t, nodes, `duet_quality_reports_total{app="WebRTCAppEE"}`); got < 4 {
				t.Fatalf("duet_quality_reports_total = %v", got)
			}
			if got := metricSum(t, nodes, `duet_quality_rtt_seconds_count{app="WebRTCAppEE",candidate="host"}`); got < 4 {
				t.Fatalf("duet_quality_rtt_seconds_count = %v", got)
			}
			// The server ends the call after this instant: the lower
			// bound of its duration is measured before the leave.
			leaving := time.Now()
			evalJS[bool](t, bob, "duetDemo.call.leave(), true")
			waitJS(t, alice, "duetDemo.counts.peerLeft === 1 && document.getElementById('signal').hidden")
			p := checkRecord(t, h, room, "left", leaving.Sub(start), time.Since(opened))
			// The record is also the admin API's, from any node.
			calls, err := (&admin.Client{URL: nodes[n/2].HTTP(), Key: qualityKey}).Calls(context.Background(), "WebRTCAppEE", room, 10)
			if err != nil || len(calls.Calls) != 1 || calls.Calls[0].ID != p.ID {
				t.Fatalf("admin calls = %+v, %v", calls, err)
			}
			if got := metricSum(t, nodes, `duet_quality_calls_total{app="WebRTCAppEE",candidate="host"}`); got != 1 {
				t.Fatalf("duet_quality_calls_total{host} = %v", got)
			}
			// By now every node has seen the call end: still one call_ended.
			if ended := h.Events("call_ended"); len(ended) != 1 {
				t.Fatalf("%d call_ended events, want 1", len(ended))
			}
		})
	}
}

// TestCallQualityGoPeerAndTab: a Go peer and a Chromium tab report their
// call's quality; each hears the other's grade, the admin API shows both,
// and the Go peer's hang-up is recorded with both ends' quality.
func TestCallQualityGoPeerAndTab(t *testing.T) {
	h := hookrecv.New(qualitySecret)
	nodes := qualityNodes(t, 1, h, nil, nil)
	browser := browsertest.Browser(t)
	tab := openDemo(t, browser, nodes[0].HTTP()+"/?quality=1000&room=gq")
	waitJS(t, tab, "duetDemo.state === 'waiting'")

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, nodes[0].URL("WebRTCAppEE"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var mu sync.Mutex
	var last *client.Quality
	opened := time.Now()
	p, err := client.NewPeer(ctx, c, "gq", &client.PeerOptions{Loopback: true, RecvMedia: true, QualityInterval: time.Second,
		OnPeerConnection: func(pc *webrtc.PeerConnection) error {
			pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
				}
			})
			return nil
		},
		OnEvent: func(e client.PeerEvent) {
			if e.Kind == client.EventQuality {
				mu.Lock()
				last = e.Quality
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if _, err := p.Accept(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitJS(t, tab, "duetDemo.quality && duetDemo.quality.remote !== 'unknown'")
	wstest.Eventually(t, "the tab's grade at the Go peer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return last != nil && last.Remote != client.QualityUnknown && last.Stats != nil && last.Stats.Loss != nil
	})
	live := liveQuality(t, nodes[0], "gq", 2)
	for id, q := range live.Quality {
		if q.RTTMs == nil || q.LocalCandidate != "host" {
			t.Fatalf("live quality of %s = %+v", id, q)
		}
	}
	// The admin page shows both members' grade and recent reports.
	page := browsertest.NewTab(t, browser)
	if err := chromedp.Do(page, chromedp.Navigate(nodes[0].HTTP()+"/admin")); err != nil {
		t.Fatal(err)
	}
	signIn(t, page, qualityKey)
	waitAdmin(t, page, `document.querySelectorAll('#rooms .member .q[data-level]').length === 2 &&
		[...document.querySelectorAll('#rooms .member .q .hist')].every(h => h.children.length >= 2) &&
		[...document.querySelectorAll('#rooms .member .q')].every(q => ['good', 'fair', 'poor'].includes(q.dataset.level))`)
	leaving := time.Now() // before the leave, which Close sends before it closes the peer connection
	p.Close()             // leaves: the partner hears stop, reason left
	waitJS(t, tab, "duetDemo.counts.peerLeft === 1")
	checkRecord(t, h, "gq", "left", leaving.Sub(start), time.Since(opened))
}
