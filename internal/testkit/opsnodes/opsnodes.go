// Package opsnodes runs duet nodes for tests wired as `duet serve` wires
// them with operations on (admin API, webhooks, call records, push): one
// node in process, or several clustered on an embedded NATS server.
package opsnodes

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/ops"
	"github.com/duet-rtc/duet/server"
)

// Options are what the tests vary beyond the configuration.
type Options struct {
	// Authz, when set, checks room and push tokens.
	Authz *auth.Authorizer
	// Mount adds HTTP handlers (the demo page, say).
	Mount func(*http.ServeMux)
	// Clustered runs the cluster backend even for one node.
	Clustered bool
}

// Start runs n nodes of configuration c, named n1, n2 …, clustered when
// n > 1 or o.Clustered; everything stops when the test ends.
func Start(t testing.TB, n int, c config.Config, o Options) []*testserver.Server {
	t.Helper()
	clustered := n > 1 || o.Clustered
	var url string
	if clustered {
		nats, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nats.Shutdown)
		url = nats.URL()
	}
	var nodes []*testserver.Server
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		reg := prometheus.NewRegistry()
		opts := server.Options{Registry: reg, Mount: o.Mount}
		oo := ops.Options{Config: c, Registry: reg, NodeID: id}
		if o.Authz != nil {
			opts.Authorizer, oo.Tokens, oo.Subscribers = o.Authz, o.Authz, o.Authz
		}
		if clustered {
			cl, err := cluster.New(context.Background(), cluster.Options{
				URL: url, NodeID: id, ProbeTimeout: c.ProbeTimeout, Registerer: reg, MemoryStorage: true,
				ReconnectGrace: c.ReconnectGrace, HoldBytes: server.HoldBytes(c),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			opts.Rooms = cl
		}
		x, err := ops.Setup(oo, &opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			x.Close(ctx)
		})
		srv := testserver.Start(t, c, opts)
		x.Attach(srv.Server)
		nodes = append(nodes, srv)
	}
	return nodes
}
