package cluster_test

import (
	"strings"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

func TestClusterMetrics(t *testing.T) {
	n := startCluster(t, 2)
	a, b := wstest.Dial(t, n[0].URL("live")), wstest.Dial(t, n[1].URL("live"))
	wstest.Pair(a, b, "m")
	a.Send(msg{"command": "takeCandidate", "streamId": "m", "label": 0, "id": "0", "candidate": "c"})
	b.Expect("takeCandidate", "")
	_, body := wstest.HTTPGet(t, n[0].HTTP()+"/metrics")
	for _, want := range []string{
		`duet_cluster_messages_total{direction="out",kind="frame"} 1`,
		`duet_cluster_messages_total{direction="in",kind="event"} 1`, // a's start
		"duet_cluster_nats_connected 1",
		"duet_cluster_kv_conflicts_total 0",
		`duet_cluster_kv_seconds_count{op="create"} 1`,
		"duet_cluster_nodes ",
		"duet_cluster_nats_rtt_seconds ",
		"duet_rooms 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
