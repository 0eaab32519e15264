package cluster_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// TestRelayFailedPastTheBound: frames for a node that stays unreachable
// longer than the link holds them (RelayHold, here 300 ms) are dropped,
// and the sender is told so with relayFailed for its room; once the node
// is back, frames flow again, in order.
func TestRelayFailedPastTheBound(t *testing.T) {
	ns := startNATS(t)
	u, _ := url.Parse(ns.URL())
	px := tcpproxy.Start(t, u.Host)
	// Node deaths are slow here, so that the outage is only the link's.
	slow := func(o *cluster.Options) { o.DeadAfter, o.RelayHold = 5*time.Second, 300*time.Millisecond }
	n1 := startNodeWith(t, ns.URL(), "n1", slow)
	n2 := startNodeWith(t, "nats://"+px.Addr(), "n2", slow)
	a, b := wstest.Dial(t, n1.URL("live")), wstest.Dial(t, n2.URL("live"))
	wstest.Pair(a, b, "r")
	toB := b.Collect()
	candidate := func(i int) msg {
		return msg{"command": "takeCandidate", "streamId": "r", "label": 0, "id": "0", "candidate": fmt.Sprintf("c%d", i)}
	}
	a.Send(candidate(0))
	if m := wstest.Next(t, toB, 5*time.Second); m.Str("candidate") != "c0" {
		t.Fatalf("partner got %v", m)
	}

	px.SetBackend(freeAddr(t)) // n2 is cut off from NATS...
	px.Cut()
	wstest.Eventually(t, "n2 to notice", func() bool { return metric(t, n2, "duet_cluster_nats_connected") == 0 })
	a.Send(candidate(1)) // ...so this one is held, then dropped
	wstest.Eventually(t, "the held frame to pass the bound", func() bool {
		return metric(t, n1, "duet_cluster_relay_dropped_total") >= 1 // c0 too, if its ack was cut
	})
	if m := a.Read(); m.Str("command") != "error" || m.Str("definition") != "relayFailed" || m.Str("streamId") != "r" {
		t.Fatalf("sender got %v, want error relayFailed for r", m)
	}
	px.SetBackend(u.Host)
	wstest.Eventually(t, "n2 to recover", func() bool { return metric(t, n2, "duet_cluster_nats_connected") == 1 })
	for i := 2; i < 5; i++ {
		a.Send(candidate(i))
	}
	var got []string
	for len(got) < 3 {
		m := wstest.Next(t, toB, 5*time.Second)
		got = append(got, m.Str("candidate"))
	}
	if strings.Join(got, " ") != "c2 c3 c4" {
		t.Fatalf("after the outage the partner got %v, want c2 c3 c4", got)
	}
}
