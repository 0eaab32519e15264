package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

type (
	client = wstest.Client
	msg    = wstest.Msg
)

// startNATS runs an embedded NATS server with JetStream for the test.
func startNATS(t *testing.T) *cluster.Embedded {
	t.Helper()
	e, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// restartNATS starts NATS again on addr with store dir, after a test shut
// the first one down. The nodes are stopped before it goes at cleanup, so
// that they do not spend their last moments reconnecting.
func restartNATS(t *testing.T, addr, dir string, nodes []*node) *cluster.Embedded {
	t.Helper()
	e, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Listen: addr, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	t.Cleanup(func() { // runs first: before e goes
		for _, n := range nodes {
			n.Stop(t)
			n.cl.Close()
		}
	})
	return e
}

// node is one duet node of a test cluster: a real server on a loopback
// port whose rooms are the cluster backend.
type node struct {
	*testserver.Server
	cl *cluster.Cluster
}

func testLogger(t *testing.T, name string) *slog.Logger {
	level := slog.LevelWarn
	level.UnmarshalText([]byte(os.Getenv("DUET_TEST_LOG")))
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: level})).With("test_node", name)
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

func startNode(t *testing.T, url, name string, mutate ...func(*config.Config)) *node {
	t.Helper()
	return startNodeWith(t, url, name, nil, mutate...)
}

// startNodeWith is startNode with a change to the backend's options.
func startNodeWith(t *testing.T, url, name string, opts func(*cluster.Options), mutate ...func(*config.Config)) *node {
	t.Helper()
	cfg := testserver.Config()
	for _, f := range mutate {
		f(&cfg)
	}
	reg := prometheus.NewRegistry()
	log := testLogger(t, name)
	o := cluster.Options{URL: url, NodeID: name, ProbeTimeout: cfg.ProbeTimeout, Logger: log, Registerer: reg}
	if opts != nil {
		opts(&o)
	}
	cl, err := cluster.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close) // after the server's drain, registered below
	s := testserver.Start(t, cfg, server.Options{Rooms: cl, Registry: reg, Logger: log})
	return &node{Server: s, cl: cl}
}

// startCluster runs n duet nodes on one embedded NATS server.
func startCluster(t *testing.T, n int, mutate ...func(*config.Config)) []*node {
	t.Helper()
	ns := startNATS(t)
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startNode(t, ns.URL(), fmt.Sprintf("n%d", i+1), mutate...)
	}
	return nodes
}

// roomsEverywhere sums the rooms with local members over the nodes.
func roomsEverywhere(nodes []*node) int64 {
	var n int64
	for _, nd := range nodes {
		n += nd.Rooms().Stats().Rooms
	}
	return n
}
