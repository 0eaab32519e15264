package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
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

func startNodes(t *testing.T, n int, mutate ...func(*config.Config)) *env {
	t.Helper()
	c := testConfig()
	for _, f := range mutate {
		f(&c)
	}
	if n == 1 {
		return &env{nodes: []*testserver.Server{testserver.Start(t, c, server.Options{})}}
	}
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
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close) // runs after the node's drain, registered next
		e.nodes = append(e.nodes, testserver.Start(t, c, server.Options{Rooms: cl, Registry: reg}))
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
	}
	return sum
}

// Stop drains every node.
func (e *env) Stop(t *testing.T) {
	for _, s := range e.nodes {
		s.Stop(t)
	}
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
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { ws.Close() })
	return c
}

// send writes one message; v is a map, a struct or a raw string.
func (c *client) send(v any) {
	c.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
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

type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }

// read returns the next message, failing the test after 5 s.
func (c *client) read() msg {
	c.t.Helper()
	m, err := c.tryRead(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
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

// expect reads the next message and checks its command and, for
// notifications and errors, its definition.
func (c *client) expect(command, definition string) msg {
	c.t.Helper()
	m := c.read()
	if m.str("command") != command || (definition != "" && m.str("definition") != definition) {
		c.t.Fatalf("got %v, want command %q definition %q", m, command, definition)
	}
	return m
}

// quiet checks nothing else is queued for c: an application ping is
// answered in order, so the next message must be its pong.
func (c *client) quiet() {
	c.t.Helper()
	c.send(msg{"command": "ping"})
	c.expect("pong", "")
}

// closed waits for the server to close the socket and returns the close
// frame's code and text (1006 when it dropped without one).
func (c *client) closed() (int, string) {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if strings.Contains(err.Error(), "timeout") {
			c.t.Fatalf("socket not closed: %v", err)
		}
		return websocket.CloseAbnormalClosure, err.Error()
	}
}

func join(c *client, room string) { c.send(msg{"command": "join", "streamId": room}) }

// pair joins a and b to room and consumes the notifications.
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
