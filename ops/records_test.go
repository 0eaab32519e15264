package ops_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/hookrecv"
	"github.com/duet-rtc/duet/internal/testkit/opsnodes"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

const recordsKey = "records-test-admin-key-0123456789abcdef"

// opsNodes runs n nodes (a cluster on embedded NATS when n > 1) with ops:
// webhooks to hooks and the admin API.
func opsNodes(t *testing.T, n int, hooks string, mutate func(*config.Config)) []*testserver.Server {
	t.Helper()
	c := testserver.Config()
	c.WebhookURLs, c.WebhookSecret, c.AdminKey = []string{hooks}, hookSecret, recordsKey
	if mutate != nil {
		mutate(&c)
	}
	return opsnodes.Start(t, n, c, opsnodes.Options{})
}

// settle waits for c's pong, past a quality frame relayed meanwhile: on
// three nodes b's first report can reach a's node after a's own, and is
// then relayed to a (a reports too).
func settle(c *wstest.Client) {
	c.T.Helper()
	c.Send(wstest.Msg{"command": "ping"})
	for {
		m := c.Read()
		switch m.Str("command") {
		case "pong":
			return
		case "quality":
			continue
		}
		c.T.Fatalf("got %v, want pong (or b's quality)", m)
	}
}

func sendReport(c *wstest.Client, room string, seq int, fields string) {
	c.Send(`{"command":"qualityReport","streamId":"` + room + `","seq":` + strconv.Itoa(seq) + `,` + fields + `}`)
}

// TestCallRecords: two duet SDKs (raw sockets speaking their dialect)
// report during a call; the admin API shows it live; after the hang-up,
// one call_ended carries the call's quality, and the admin API lists the
// same record — on one node and on three, with the peers on different
// nodes.
func TestCallRecords(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+"nodes", func(t *testing.T) { testCallRecords(t, n) })
	}
}

func testCallRecords(t *testing.T, n int) {
	hooks := hookrecv.New(hookSecret)
	recv := httptest.NewServer(hooks)
	t.Cleanup(recv.Close)
	nodes := opsNodes(t, n, recv.URL, nil)
	a := wstest.Dial(t, nodes[0].URL("app"))
	b := wstest.Dial(t, nodes[n-1].URL("app"))
	a.Send(map[string]any{"command": "join", "streamId": "call1", "session": "sessA", "resumable": true})
	a.Expect("notification", "joined")
	b.Send(map[string]any{"command": "join", "streamId": "call1", "session": "sessB", "resumable": true})
	b.Expect("notification", "joined")
	a.Expect("start", "")
	// b reports first; each report is taken before the pong that follows
	// it, so from a's second report on, each side gets the other's.
	sendReport(b, "call1", 1, `"rtt":60,"jitter":8,"loss":1.5,"bitrateIn":800,"bitrateOut":950,"localCandidate":"relay","remoteCandidate":"host","transport":"tls","setupMs":1200,"iceRestarts":1,"resumes":0`)
	b.Quiet()
	sendReport(a, "call1", 1, `"rtt":40,"jitter":5,"loss":0,"bitrateIn":900,"bitrateOut":1000,"localCandidate":"host","remoteCandidate":"srflx","transport":"udp","setupMs":700,"iceRestarts":0,"resumes":0`)
	settle(a)
	ac, bc := a.Collect(), b.Collect()
	sendReport(a, "call1", 2, `"rtt":80,"jitter":5,"loss":0.5,"localCandidate":"host","remoteCandidate":"srflx","transport":"udp","setupMs":700,"iceRestarts":0,"resumes":1`)
	for got := false; !got; {
		got = wstest.Next(t, bc, 5*time.Second).Str("command") == "quality"
	}
	sendReport(b, "call1", 2, `"rtt":60,"jitter":8,"loss":6,"localCandidate":"relay","remoteCandidate":"host","transport":"tls","setupMs":1200,"iceRestarts":1,"resumes":0`)
	for {
		m := wstest.Next(t, ac, 5*time.Second)
		if m.Str("command") == "quality" && m["seq"] == 2.0 {
			if m.Str("level") != "poor" {
				t.Fatalf("b's second report reached a as %v", m)
			}
			break
		}
	}

	// Live quality, asked of the first node, for both members.
	cl := &admin.Client{URL: nodes[0].HTTP(), Key: recordsKey}
	var room admin.RoomResponse
	wstest.Eventually(t, "live quality of both members", func() bool {
		var err error
		room, err = cl.Room(context.Background(), "app", "call1")
		return err == nil && len(room.Quality) == 2
	})
	for _, m := range room.Members {
		q, ok := room.Quality[m.ID]
		if !ok || q.Reports != 2 || len(q.History) != 2 {
			t.Fatalf("live quality of %s = %+v", m.ID, q)
		}
	}

	a.Send(map[string]any{"command": "leave", "streamId": "call1"})
	for wstest.Next(t, ac, 5*time.Second).Str("definition") != "leaved" {
	}
	for wstest.Next(t, bc, 5*time.Second).Str("command") != "stop" {
	}
	// Both nodes have seen the end: it was reported once in the cluster.
	events := 0.0
	for _, node := range nodes {
		events += metric(t, node, `duet_webhook_events_total{event="call_ended"}`)
	}
	if events != 1 {
		t.Fatalf("call_ended reported %v times", events)
	}
	wstest.Eventually(t, "call_ended", func() bool { return len(hooks.Events("call_ended")) == 1 })
	ended := hooks.Events("call_ended")
	p := ended[0]
	if p.Reason != "left" || p.DurationMs == nil || *p.DurationMs <= 0 || p.Quality == nil {
		t.Fatalf("call_ended = %+v", p)
	}
	q := p.Quality
	if !q.TURN || q.Candidate != "relay" || q.SetupMs == nil || *q.SetupMs != 1200 || len(q.Members) != 2 {
		t.Fatalf("quality = %+v", q)
	}
	byID := map[string]int{}
	for i, m := range p.Members {
		byID[m.ID] = i
	}
	for _, mq := range q.Members {
		if _, ok := byID[mq.ID]; !ok {
			t.Fatalf("quality of %q, not a member of the call (%v)", mq.ID, p.Members)
		}
		if mq.Reports != 2 || mq.RTTMs == nil {
			t.Fatalf("member quality = %+v", mq)
		}
		switch mq.LocalCandidate {
		case "host": // a
			if mq.RTTMs.Avg != 60 || mq.RTTMs.Max != 80 || mq.Resumes != 1 || mq.Transport != "udp" || *mq.SetupMs != 700 {
				t.Fatalf("a's quality = %+v (rtt %+v)", mq, *mq.RTTMs)
			}
		case "relay": // b
			if mq.LossPct.Max != 6 || mq.LossPct.Avg != 3.75 || mq.ICERestarts != 1 || mq.Transport != "tls" || mq.Levels.Poor != 1 || mq.Levels.Fair != 1 {
				t.Fatalf("b's quality = %+v (loss %+v)", mq, *mq.LossPct)
			}
		default:
			t.Fatalf("member quality = %+v", mq)
		}
	}

	// The admin API lists the same record, whichever node is asked.
	for _, node := range nodes {
		cl := &admin.Client{URL: node.HTTP(), Key: recordsKey}
		calls, err := cl.Calls(context.Background(), "app", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls.Calls) != 1 || calls.Calls[0].ID != p.ID || calls.Calls[0].Quality == nil || calls.Partial {
			t.Fatalf("calls from %s = %+v", node.Addr, calls)
		}
	}
	if n := hooks.Bad(); n != 0 {
		t.Fatalf("%d webhook requests failed verification", n)
	}
}

// TestCallRecordOfAntMediaSDKs: a call of clients that send no reports is
// recorded with what the server saw, and no quality.
func TestCallRecordOfAntMediaSDKs(t *testing.T) {
	hooks := hookrecv.New(hookSecret)
	recv := httptest.NewServer(hooks)
	t.Cleanup(recv.Close)
	nodes := opsNodes(t, 1, recv.URL, nil)
	a, b := wstest.Dial(t, nodes[0].URL("app")), wstest.Dial(t, nodes[0].URL("app"))
	wstest.Pair(a, b, "plain")
	b.WS.Close()
	a.Expect("stop", "")
	wstest.Eventually(t, "call_ended", func() bool { return len(hooks.Events("call_ended")) == 1 })
	p := hooks.Events("call_ended")[0]
	if p.Quality != nil || p.Reason != "closed" || p.DurationMs == nil || len(p.Members) != 2 {
		t.Fatalf("call_ended = %+v", p)
	}
}

// metric is one sample of a node's /metrics (0 when absent).
func metric(t *testing.T, node *testserver.Server, sample string) float64 {
	t.Helper()
	_, body := wstest.HTTPGet(t, node.HTTP()+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}
