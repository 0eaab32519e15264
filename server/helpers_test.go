package server_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

type (
	client = wstest.Client
	msg    = wstest.Msg
)

// env is what a test runs against: one node, or, when DUET_TEST_NODES=N,
// N nodes clustered on an embedded NATS server. Each dial goes to the next
// node in turn, so the two peers of a room are on different nodes and
// every message between them crosses the cluster.
type env struct {
	nodes []*testserver.Server
	next  atomic.Int64
}

// start runs the protocol tests' server: a cluster when DUET_TEST_NODES is set.
func start(t *testing.T, mutate ...func(*config.Config)) *env {
	t.Helper()
	n, _ := strconv.Atoi(os.Getenv("DUET_TEST_NODES"))
	return startNodes(t, max(n, 1), mutate...)
}

// startSingle runs one node whatever DUET_TEST_NODES says, for tests of a
// node's own surface: its metrics, connection cap, drain, TLS, origins.
func startSingle(t *testing.T, mutate ...func(*config.Config)) *env {
	t.Helper()
	return startNodes(t, 1, mutate...)
}

func startNodes(t testing.TB, n int, mutate ...func(*config.Config)) *env {
	t.Helper()
	c := testserver.Config()
	for _, f := range mutate {
		f(&c)
	}
	if n == 1 {
		return &env{nodes: []*testserver.Server{testserver.Start(t, c, server.Options{})}}
	}
	return startCluster(t, n, c, nil, server.Options{})
}

// startCluster runs n nodes with config c and options opts clustered on an
// embedded NATS server; clock (nil: the system's) times their held seats.
func startCluster(t testing.TB, n int, c config.Config, clock cluster.Clock, opts server.Options) *env {
	t.Helper()
	nats, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	e := &env{}
	for i := range n {
		reg := prometheus.NewRegistry()
		cl, err := cluster.New(context.Background(), cluster.Options{
			URL: nats.URL(), NodeID: fmt.Sprintf("n%d", i+1), ProbeTimeout: c.ProbeTimeout, Registerer: reg, MemoryStorage: true,
			ReconnectGrace: c.ReconnectGrace, HoldBytes: server.HoldBytes(c), HoldCaps: server.HoldCaps(c), Clock: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close) // runs after the node's drain, registered next
		o := opts
		o.Rooms, o.Registry = cl, reg
		e.nodes = append(e.nodes, testserver.Start(t, c, o))
	}
	return e
}

// URL is the WebSocket URL of app on the next node.
func (e *env) URL(app string) string {
	i := int(e.next.Add(1)-1) % len(e.nodes)
	return e.nodes[i].URL(app)
}

// HTTP is the first node's base URL.
func (e *env) HTTP() string { return e.nodes[0].HTTP() }

// Connections is the number of open sockets on all nodes.
func (e *env) Connections() int {
	n := 0
	for _, s := range e.nodes {
		n += s.Connections()
	}
	return n
}

// Rooms sums the nodes' room counters. In a cluster a room whose peers are
// on two nodes counts on both.
func (e *env) Rooms() interface{ Stats() hub.Stats } { return envRooms{e} }

type envRooms struct{ e *env }

func (r envRooms) Stats() hub.Stats {
	var sum hub.Stats
	for _, s := range r.e.nodes {
		st := s.Rooms().Stats()
		sum.Rooms += st.Rooms
		sum.Evictions += st.Evictions
		sum.Probes += st.Probes
		sum.Held += st.Held
		sum.Resumes += st.Resumes
		sum.Expiries += st.Expiries
		sum.KeptBytes += st.KeptBytes
		for i := range sum.HoldLimits {
			sum.HoldLimits[i] += st.HoldLimits[i]
		}
	}
	return sum
}

// Stop drains every node.
func (e *env) Stop(t testing.TB) {
	for _, s := range e.nodes {
		s.Stop(t)
	}
}
