package cluster_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/hookrecv"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/ops"
	"github.com/duet-rtc/duet/server"
)

const (
	opsKey        = "cluster-admin-key-0123456789abcdef"
	opsHookSecret = "cluster-webhook-secret"
)

// hooks is the webhook receiver shared by every node.
type hooks struct{ *hookrecv.Receiver }

func newHooks() *hooks { return &hooks{hookrecv.New(opsHookSecret)} }

// opsNode is a cluster node wired as duet serve wires it: the admin API
// and webhooks on.
type opsNode struct {
	*testserver.Server
	cl  *cluster.Cluster
	reg *prometheus.Registry
	api *admin.Client
}

func startOpsCluster(t *testing.T, n int, hookURL string) []*opsNode {
	t.Helper()
	return startOpsClusterWith(t, n, hookURL, nil)
}

// startOpsClusterWith is startOpsCluster with a change to every node's
// backend options.
func startOpsClusterWith(t *testing.T, n int, hookURL string, opts func(*cluster.Options)) []*opsNode {
	t.Helper()
	ns := startNATS(t)
	nodes := make([]*opsNode, n)
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		cfg := testserver.Config()
		cfg.AdminKey = opsKey
		cfg.WebhookURLs, cfg.WebhookSecret = []string{hookURL}, opsHookSecret
		reg := prometheus.NewRegistry()
		log := testLogger(t, name)
		o := cluster.Options{URL: ns.URL(), NodeID: name, ProbeTimeout: cfg.ProbeTimeout, Logger: log, Registerer: reg}
		if opts != nil {
			opts(&o)
		}
		cl, err := cluster.New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		opts := server.Options{Rooms: cl, Registry: reg, Logger: log}
		x, err := ops.Setup(ops.Options{Config: cfg, Logger: log, Registry: reg, Version: "test"}, &opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // after the server's drain
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			x.Close(ctx)
		})
		s := testserver.Start(t, cfg, opts)
		x.Attach(s.Server)
		nodes[i] = &opsNode{Server: s, cl: cl, reg: reg, api: &admin.Client{URL: s.HTTP(), Key: opsKey}}
	}
	return nodes
}

// counter sums a counter family of a registry.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || m.GetLabel()[0].GetValue() == label {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func memberOn(t *testing.T, r admin.Room, node string) string {
	t.Helper()
	for _, m := range r.Members {
		if m.Node == node {
			return m.ID
		}
	}
	t.Fatalf("room %s has no member on %s: %+v", r.Room, node, r.Members)
	return ""
}

// TestClusterOperations: on three nodes, every node lists the whole
// cluster; a kick and a room end asked of any node are carried out by the
// nodes holding the sockets, whose clients get stop with reason kicked;
// every room event reaches the webhook receiver exactly once, sent by the
// node that committed it; a node that stops answering makes listings
// partial until it is declared dead.
func TestClusterOperations(t *testing.T) {
	h := newHooks()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close) // after the nodes have flushed their webhooks
	nodes := startOpsCluster(t, 3, hs.URL+"/duet")
	ctx := context.Background()
	dial := func(i int) *client { return wstest.Dial(t, nodes[i].URL("WebRTCAppEE")) }

	a, b := dial(0), dial(1) // r1: n1 and n2
	wstest.Pair(a, b, "r1")
	c := dial(2) // r2: n3 alone
	wstest.Join(c, "r2")
	c.Expect("notification", "joined")
	d, e := dial(0), dial(2) // r3: n1 and n3
	wstest.Pair(d, e, "r3")

	// Every node lists every room with every member.
	for _, n := range nodes {
		rs, err := n.api.Rooms(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if rs.Partial || rs.ExpectedNodes != 3 || rs.AnsweredNodes != 3 || len(rs.Rooms) != 3 {
			t.Fatalf("listing from %s: %+v", n.cl.ID(), rs)
		}
		r1 := rs.Rooms[0]
		if r1.Room != "r1" || r1.State != "call" || len(r1.Members) != 2 || r1.CallStartedAt == nil ||
			r1.Members[0].Node != "n1" || r1.Members[1].Node != "n2" || r1.Members[0].JoinedAt == nil || r1.Members[1].Remote == "" {
			t.Fatalf("r1 from %s: %+v", n.cl.ID(), r1)
		}
		st, err := n.api.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Totals != (admin.Totals{Nodes: 3, Connections: 5, Rooms: 3, Calls: 2, Members: 5}) {
			t.Fatalf("stats from %s: %+v", n.cl.ID(), st)
		}
	}
	r1, err := nodes[2].api.Room(ctx, "WebRTCAppEE", "r1")
	if err != nil {
		t.Fatal(err)
	}

	// n3 is asked to kick b, whose socket is on n2.
	if err := nodes[2].api.Kick(ctx, "WebRTCAppEE", "r1", memberOn(t, r1.Room, "n2")); err != nil {
		t.Fatal(err)
	}
	if m := b.Expect("stop", ""); m.Str("reason") != "kicked" {
		t.Fatalf("kicked member got %v", m)
	}
	if m := b.Expect("notification", "leaved"); m.Str("reason") != "kicked" {
		t.Fatalf("kicked member got %v", m)
	}
	if m := a.Expect("stop", ""); m.Str("reason") != "kicked" {
		t.Fatalf("partner on another node got %v", m)
	}
	a.Quiet()
	b.Quiet()
	if r, _ := nodes[0].api.Room(ctx, "WebRTCAppEE", "r1"); r.State != "waiting" || len(r.Members) != 1 || r.Members[0].Node != "n1" {
		t.Fatalf("r1 after the kick: %+v", r)
	}

	// n2 ends r3, whose members are on n1 and n3: one stop each.
	res, err := nodes[1].api.EndRoom(ctx, "WebRTCAppEE", "r3")
	if err != nil || res.Removed != 2 {
		t.Fatalf("end r3: %+v %v", res, err)
	}
	for _, x := range []*client{d, e} {
		if m := x.Expect("stop", ""); m.Str("reason") != "kicked" {
			t.Fatalf("ended room's member got %v", m)
		}
		x.Expect("notification", "leaved")
		x.Quiet()
	}
	c.Send(msg{"command": "leave", "streamId": "r2"})
	c.Expect("notification", "leaved")
	a.WS.Close()
	wstest.Eventually(t, "rooms emptied", func() bool { return roomsEverywhere(nodesOf(nodes)) == 0 })

	// Exactly once: the events the room transitions make, each sent by the
	// node that committed it.
	want := []string{
		"peer_joined r1 n1 by n1", "peer_joined r1 n2 by n2", "call_started r1 n2 by n2",
		"peer_joined r2 n3 by n3",
		"peer_joined r3 n1 by n1", "peer_joined r3 n3 by n3", "call_started r3 n3 by n3",
		"peer_left r1 n2 kicked by n2", "call_ended r1 n2 kicked by n2",
		"peer_left r3 n1 kicked by n1", "call_ended r3 n1 kicked by n1", "peer_left r3 n3 kicked by n3",
		"peer_left r2 n3 left by n3",
		"peer_left r1 n1 closed by n1",
	}
	sort.Strings(want)
	var got []string
	wstest.Eventually(t, "every event delivered", func() bool {
		delivered := 0.0
		for _, n := range nodes {
			delivered += counter(t, n.reg, "duet_webhook_deliveries_total", "delivered")
		}
		return int(delivered) >= len(want)
	})
	ids := map[string]bool{}
	for _, p := range h.Payloads() {
		s := fmt.Sprintf("%s %s %s", p.Event, p.Room, p.Member.Node)
		if p.Reason != "" {
			s += " " + p.Reason
		}
		got = append(got, s+" by "+p.Node)
		if ids[p.ID] {
			t.Errorf("delivery %s twice", p.ID)
		}
		ids[p.ID] = true
		if p.Event == "call_ended" && (p.DurationMs == nil || *p.DurationMs < 0 || len(p.Members) != 2) {
			t.Errorf("call_ended without its call: %+v", p)
		}
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") || h.Bad() != 0 {
		t.Fatalf("webhooks (%d badly signed):\n%s\nwant:\n%s", h.Bad(), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, n := range nodes {
		if f := counter(t, n.reg, "duet_webhook_deliveries_total", "failed") + counter(t, n.reg, "duet_webhook_deliveries_total", "dropped"); f != 0 {
			t.Errorf("%s: %v deliveries failed or dropped", n.cl.ID(), f)
		}
	}

	// A node that stops answering (cut off from NATS) leaves a partial
	// listing until the others declare it dead.
	nodes[2].cl.Abort()
	rs, err := nodes[0].api.Rooms(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Partial || rs.ExpectedNodes != 3 || rs.AnsweredNodes != 2 {
		t.Fatalf("listing with a silent node: %+v", rs.Coverage)
	}
	wstest.Eventually(t, "the silent node declared dead", func() bool {
		rs, err := nodes[0].api.Rooms(ctx, "", 0)
		return err == nil && !rs.Partial && rs.ExpectedNodes == 2
	})
}

func nodesOf(ns []*opsNode) []*node {
	out := make([]*node, len(ns))
	for i, n := range ns {
		out[i] = &node{Server: n.Server, cl: n.cl}
	}
	return out
}
