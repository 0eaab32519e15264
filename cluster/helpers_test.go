package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testserver"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

// testConfig is the default config with timings short enough for tests.
func testConfig() config.Config {
	c := config.Default()
	c.ProbeTimeout = 500 * time.Millisecond
	c.DrainTimeout = 2 * time.Second
	c.RateLimit = 0
	return c
}

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
	cfg := testConfig()
	for _, f := range mutate {
		f(&cfg)
	}
	reg := prometheus.NewRegistry()
	log := testLogger(t, name)
	cl, err := cluster.New(context.Background(), cluster.Options{
		URL: url, NodeID: name, ProbeTimeout: cfg.ProbeTimeout, Logger: log, Registerer: reg,
	})
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

// client is a real WebSocket client speaking the protocol.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (resp %v)", url, err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }

func (c *client) send(v any) {
	c.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) tryRead(d time.Duration) (msg, error) {
	c.ws.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("server sent invalid JSON %q: %w", b, err)
	}
	return m, nil
}

func (c *client) read() msg {
	c.t.Helper()
	m, err := c.tryRead(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *client) expect(command, definition string) msg {
	c.t.Helper()
	m := c.read()
	if m.str("command") != command || (definition != "" && m.str("definition") != definition) {
		c.t.Fatalf("got %v, want command %q definition %q", m, command, definition)
	}
	return m
}

// quiet checks nothing else is queued for c: the pong of a ping sent now
// must be the next message.
func (c *client) quiet() {
	c.t.Helper()
	c.send(msg{"command": "ping"})
	c.expect("pong", "")
}

// closed waits for the server to close the socket and returns the close
// code (1006 when it dropped without one).
func (c *client) closed() int {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if strings.Contains(err.Error(), "timeout") {
			c.t.Fatalf("socket not closed: %v", err)
		}
		return websocket.CloseAbnormalClosure
	}
}

// keepReading makes c a live but passive client: it answers pings and
// discards messages in the background until the socket closes.
func (c *client) keepReading() {
	go func() {
		for {
			c.ws.SetReadDeadline(time.Time{})
			if _, _, err := c.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
}

// collect reads c in the background (so it answers probes) and hands every
// message to the returned channel, which closes with the socket.
func (c *client) collect() <-chan msg {
	ch := make(chan msg, 64)
	go func() {
		defer close(ch)
		for {
			m, err := c.tryRead(30 * time.Second)
			if err != nil {
				return
			}
			ch <- m
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan msg, d time.Duration) msg {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("socket closed")
		}
		return m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
	}
	return nil
}

func join(c *client, room string) { c.send(msg{"command": "join", "streamId": room}) }

func pair(a, b *client, room string) {
	join(a, room)
	a.expect("notification", "joined")
	join(b, room)
	b.expect("notification", "joined")
	a.expect("start", "")
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a condition wait, not a fixed delay
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

// roomsEverywhere sums the rooms with local members over the nodes.
func roomsEverywhere(nodes []*node) int64 {
	var n int64
	for _, nd := range nodes {
		n += nd.Rooms().Stats().Rooms
	}
	return n
}
