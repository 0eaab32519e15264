package server_test

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/fakeclock"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

// testGrace is the reconnect grace of the resume tests. Their clock is
// fake, so it costs no time.
const testGrace = 30 * time.Second

// resumeEnv is one node whose in-process backend holds seats on a fake
// clock (or, when DUET_TEST_NODES is set, that many cluster nodes sharing
// one): a grace runs out when the test advances the clock.
type resumeEnv struct {
	*env
	rooms interface{ Stats() hub.Stats } // summed over the nodes
	clock *fakeclock.Clock
}

// clustered reports whether the protocol suite runs on a cluster
// (DUET_TEST_NODES > 1).
func clustered() bool {
	n, _ := strconv.Atoi(os.Getenv("DUET_TEST_NODES"))
	return n > 1
}

// startResume runs one node that holds seats for testGrace on a fake
// clock, or, on the cluster run, DUET_TEST_NODES nodes: each dial goes to
// the next node, so a seat is held on one node and taken back on another.
func startResume(t *testing.T, mutate ...func(*config.Config)) *resumeEnv {
	t.Helper()
	n, _ := strconv.Atoi(os.Getenv("DUET_TEST_NODES"))
	return startResumeNodes(t, max(n, 1), mutate...)
}

// startResumeNodes is startResume on n nodes (1: the in-process backend)
// whatever DUET_TEST_NODES says, for tests of what one node holds.
func startResumeNodes(t testing.TB, n int, mutate ...func(*config.Config)) *resumeEnv {
	t.Helper()
	return startResumeOpts(t, n, server.Options{}, mutate...)
}

// startResumeOpts is startResumeNodes with the servers' options (tokens,
// ICE servers).
func startResumeOpts(t testing.TB, n int, opts server.Options, mutate ...func(*config.Config)) *resumeEnv {
	t.Helper()
	c := testserver.Config()
	for _, f := range mutate {
		f(&c)
	}
	clock := new(fakeclock.Clock)
	if n > 1 {
		c.ReconnectGrace = testGrace
		t.Cleanup(func() { // after every node's Close, registered next
			if n := clock.Pending(); n != 0 {
				t.Errorf("%d hold timers left after Close", n)
			}
		})
		e := startCluster(t, n, c, clock, opts)
		return &resumeEnv{env: e, rooms: e.Rooms(), clock: clock}
	}
	local := hub.NewLocalWith(hub.LocalOptions{
		ProbeTimeout: c.ProbeTimeout, ReconnectGrace: testGrace, HoldBytes: c.SendQueueBytes - 512, HoldCaps: server.HoldCaps(c), Clock: clock,
	})
	t.Cleanup(func() {
		local.Close() // after the server's drain, registered below
		if n := clock.Pending(); n != 0 {
			t.Errorf("%d hold timers left after Close", n)
		}
	})
	opts.Rooms = local
	srv := testserver.Start(t, c, opts)
	return &resumeEnv{env: &env{nodes: []*testserver.Server{srv}}, rooms: local, clock: clock}
}

// joinMsg is a join with duet's resume fields; empty ones are left out.
func joinMsg(room, session string, resumable bool, token string) msg {
	m := msg{"command": "join", "streamId": room}
	if session != "" {
		m["session"] = session
	}
	if resumable {
		m["resumable"] = true
	}
	if token != "" {
		m["resumeToken"] = token
	}
	return m
}

// joinResumable sends a resumable join and returns its joined.
func joinResumable(c *client, room, session, token string) msg {
	c.T.Helper()
	c.Send(joinMsg(room, session, true, token))
	return c.Expect("notification", "joined")
}

// pairResumable joins a then b, both resumable with sessions "sa" and
// "sb", and returns their joined messages; a's start is consumed.
func pairResumable(t testing.TB, a, b *client, room string) (ja, jb msg) {
	t.Helper()
	ja = joinResumable(a, room, "sa", "")
	jb = joinResumable(b, room, "sb", "")
	if st := a.Expect("start", ""); st.Str("peerSession") != "sb" {
		t.Fatalf("start = %v, want peerSession sb", st)
	}
	return ja, jb
}

// readRaw returns the next frame as sent, failing after 5 s.
func readRaw(t *testing.T, c *client) string {
	t.Helper()
	c.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.WS.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// expectRaw checks that the next frame is exactly want.
func expectRaw(t *testing.T, c *client, want string) {
	t.Helper()
	if got := readRaw(t, c); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// num returns field k as a number (-1 if absent).
func num(m msg, k string) float64 {
	if v, ok := m[k].(float64); ok {
		return v
	}
	return -1
}

// keys lists a message's fields, for failure messages.
func keys(m msg) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// waitHeld waits until the backend holds n seats.
func (e *resumeEnv) waitHeld(t testing.TB, n int64) {
	t.Helper()
	wstest.Eventually(t, "held seats = "+strconv.FormatInt(n, 10), func() bool { return e.rooms.Stats().Held == n })
}

// expectStats waits until the backend's counters, summed over the nodes,
// satisfy ok: on one node they do at once; on a cluster a node may learn
// a moment later that a hold it wrote has ended elsewhere.
func (e *resumeEnv) expectStats(t testing.TB, ok func(hub.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for st := e.rooms.Stats(); !ok(st); st = e.rooms.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v", st)
		}
		time.Sleep(5 * time.Millisecond) // the polling interval of a condition wait
	}
}

// metricSum is the sum of one metric sample over every node's /metrics
// (-1 if no node has it).
func (e *env) metricSum(t *testing.T, sample string) float64 {
	t.Helper()
	sum, seen := 0.0, false
	for _, n := range e.nodes {
		_, body := wstest.HTTPGet(t, n.HTTP()+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, sample+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("metric %s: %v", sample, err)
				}
				sum, seen = sum+f, true
			}
		}
	}
	if !seen {
		return -1
	}
	return sum
}
