package cluster_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestClusterRestartEvents: a plain member that joins its full room again
// restarts the call from whichever node holds it, and the partner, on
// another node, hears stop (reason restart) and start. Operators see each
// restart once, from the joiner's node: the call ended (reason restart)
// with its duration, and a new one started; the listing's call start moves.
func TestClusterRestartEvents(t *testing.T) {
	h := newHooks()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close) // after the nodes have flushed their webhooks
	nodes := startOpsCluster(t, 2, hs.URL+"/duet")
	ctx := context.Background()
	a, b := wstest.Dial(t, nodes[0].URL("WebRTCAppEE")), wstest.Dial(t, nodes[1].URL("WebRTCAppEE"))
	wstest.Pair(a, b, "r")
	before, err := nodes[0].api.Room(ctx, "WebRTCAppEE", "r")
	if err != nil || before.CallStartedAt == nil {
		t.Fatalf("room %+v, %v", before, err)
	}

	for _, x := range []struct{ joiner, partner *client }{{b, a}, {a, b}} {
		wstest.Join(x.joiner, "r")
		x.joiner.Expect("notification", "joined")
		if m := x.partner.Expect("stop", ""); m.Str("reason") != "restart" {
			t.Fatalf("partner got %v", m)
		}
		x.partner.Expect("start", "")
		x.partner.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0"})
		x.joiner.Expect("takeConfiguration", "")
	}
	wstest.Eventually(t, "the listing's call start moved", func() bool {
		r, err := nodes[1].api.Room(ctx, "WebRTCAppEE", "r")
		return err == nil && r.State == "call" && r.CallStartedAt != nil && r.CallStartedAt.After(*before.CallStartedAt)
	})

	want := []string{
		"peer_joined n1 by n1", "peer_joined n2 by n2", "call_started n2 by n2",
		"call_ended n2 restart by n2", "call_started n2 by n2",
		"call_ended n1 restart by n1", "call_started n1 by n1",
	}
	sort.Strings(want)
	wstest.Eventually(t, "every event delivered", func() bool {
		delivered := 0.0
		for _, n := range nodes {
			delivered += counter(t, n.reg, "duet_webhook_deliveries_total", "delivered")
		}
		return int(delivered) >= len(want)
	})
	var got []string
	for _, p := range h.Payloads() {
		s := fmt.Sprintf("%s %s", p.Event, p.Member.Node)
		if p.Reason != "" {
			s += " " + p.Reason
		}
		got = append(got, s+" by "+p.Node)
		if p.Event == "call_ended" && (p.DurationMs == nil || *p.DurationMs < 0 || len(p.Members) != 2) {
			t.Errorf("call_ended without its call: %+v", p)
		}
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("webhooks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
