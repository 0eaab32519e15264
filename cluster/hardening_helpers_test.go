package cluster_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// metric reads one sample of a node's /metrics, -1 when it is absent.
func metric(t *testing.T, n *node, sample string) float64 {
	t.Helper()
	_, body := wstest.HTTPGet(t, n.HTTP()+"/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return f
		}
	}
	return -1
}

// readyz is the status of a node's readiness endpoint.
func readyz(t *testing.T, n *node) int {
	t.Helper()
	code, _ := wstest.HTTPGet(t, n.HTTP()+"/readyz")
	return code
}

// startNATSCluster starts size embedded NATS servers routed into one NATS
// cluster with JetStream, as fast as it can: it does not wait for
// JetStream's meta leader, as an operator starting a fresh cluster does not.
func startNATSCluster(t *testing.T, size int) []*cluster.Embedded {
	t.Helper()
	// Every server needs the routes of all, so the route ports are chosen
	// first.
	var routes []string
	for range size {
		routes = append(routes, "nats-route://"+freeAddr(t))
	}
	servers := make([]*cluster.Embedded, size)
	errs := make([]error, size)
	concurrently(size, func(i int) {
		servers[i], errs[i] = cluster.StartEmbedded(cluster.EmbeddedOptions{
			StoreDir: t.TempDir(), ServerName: fmt.Sprintf("nats-%d", i+1),
			ClusterName: "duet-test", ClusterListen: strings.TrimPrefix(routes[i], "nats-route://"), Routes: routes,
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(servers[i].Shutdown)
	}
	return servers
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// clientURLs joins the servers' client URLs as nats_url does.
func clientURLs(servers []*cluster.Embedded) string {
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.URL())
	}
	return strings.Join(urls, ",")
}

// concurrently runs f(i) for i in [0, n) at once and waits.
func concurrently(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}
