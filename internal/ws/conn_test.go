package ws

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Handler that keeps what it is told.
type recorder struct {
	c      Conn
	mu     sync.Mutex
	msgs   []string
	cause  Cause
	closed chan struct{}
	onMsg  func(r *recorder, p []byte)
}

func (r *recorder) Message(_ Opcode, p []byte, _ time.Time) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(p))
	r.mu.Unlock()
	if r.onMsg != nil {
		r.onMsg(r, p)
	}
}
func (r *recorder) Violation(*CloseError) {}
func (r *recorder) Closed(c Cause) {
	r.mu.Lock()
	r.cause = c
	r.mu.Unlock()
	close(r.closed)
}

// serve runs an Engine behind a real listener; every socket gets a
// recorder, sent on conns.
func serve(t *testing.T, o Options) (*Engine, string, <-chan *recorder) {
	t.Helper()
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.SendQueueBytes == 0 {
		o.SendQueueBytes = 1 << 20
	}
	if o.PingInterval == 0 {
		o.PingInterval, o.IdleTimeout = time.Hour, 2*time.Hour
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 5 * time.Second
	}
	e := NewEngine(o)
	conns := make(chan *recorder, 1024)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, early, err := Upgrade(w, r, time.Second)
		if err != nil {
			return
		}
		rec := &recorder{closed: make(chan struct{})}
		rec.onMsg = func(r *recorder, p []byte) { r.c.Send(p) } // echo
		rec.c.Start(e, nc, early, rec)
		conns <- rec
	}))
	t.Cleanup(func() { ts.Close(); e.Close() })
	return e, "ws" + ts.URL[4:], conns
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := c.ReadMessage()
	if err != nil || string(p) != msg {
		t.Fatalf("echo of %q: %q %v", msg, p, err)
	}
}

func waitClosed(t *testing.T, r *recorder) Cause {
	t.Helper()
	select {
	case <-r.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the owner was not told the socket closed")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cause
}

// TestIdleSocketsPark: quiet sockets hold no goroutine (where there is a
// poller) and wake when bytes arrive, through many park and wake rounds.
func TestIdleSocketsPark(t *testing.T) {
	e, url, conns := serve(t, Options{Linger: time.Millisecond})
	if !e.Polling() {
		t.Skip("no poller on this system") // the fallback is covered by TestFallback
	}
	const n = 50
	cs := make([]*websocket.Conn, n)
	recs := make([]*recorder, n)
	for i := range cs {
		cs[i] = dial(t, url)
		recs[i] = <-conns
	}
	for round := range 5 {
		for i, c := range cs {
			echo(t, c, "round")
			_ = i
		}
		waitFor(t, "every socket parked", func() bool {
			for _, r := range recs {
				r.c.mu.Lock()
				p := r.c.parked
				r.c.mu.Unlock()
				if !p {
					return false
				}
			}
			return true
		})
		_ = round
	}
}

// TestFallback runs the same traffic with a reader goroutine per socket.
func TestFallback(t *testing.T) {
	_, url, _ := serve(t, Options{NoPoller: true})
	c := dial(t, url)
	for range 20 {
		echo(t, c, "hello")
	}
}

// TestReusedDescriptor is the failure that made an earlier design drop
// its poller: sockets closed and new ones opened at once reuse fd numbers,
// and an event meant for a closed socket must never wake the new one.
// Every round closes all sockets (the server sees the close while many
// are parked) and opens new ones, which must each get exactly their own
// echoes.
func TestReusedDescriptor(t *testing.T) {
	e, url, conns := serve(t, Options{Linger: time.Millisecond})
	for round := range 10 {
		var cs []*websocket.Conn
		var recs []*recorder
		for range 20 {
			cs = append(cs, dial(t, url))
			recs = append(recs, <-conns)
		}
		for i, c := range cs {
			echo(t, c, string(rune('a'+i)))
		}
		for _, c := range cs {
			c.Close()
		}
		for i, r := range recs {
			if cause := waitClosed(t, r); cause != CausePeerClosed {
				t.Fatalf("round %d: socket %d ended with %v", round, i, cause)
			}
			r.mu.Lock()
			if len(r.msgs) != 1 || r.msgs[0] != string(rune('a'+i)) {
				t.Fatalf("round %d: socket %d got %q", round, i, r.msgs)
			}
			r.mu.Unlock()
		}
	}
	waitFor(t, "the table to empty", func() bool { return e.Len() == 0 })
}

// TestSendNeverBlocks: a peer that does not read fills its queue; Send
// keeps returning at once and, past the limit, reports false; the reader
// closes the socket and says why.
func TestSendNeverBlocks(t *testing.T) {
	_, url, conns := serve(t, Options{SendQueueBytes: 64 << 10})
	c := dial(t, url)
	r := <-conns
	frame := make([]byte, 4<<10)
	var mu sync.Mutex // Send under a lock of the caller's, as a hub does
	dropped := false
	for i := 0; i < 100000 && !dropped; i++ {
		start := time.Now()
		mu.Lock()
		ok := r.c.Send(frame)
		mu.Unlock()
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Send took %v", d)
		}
		dropped = !ok
	}
	if !dropped {
		t.Fatal("the queue never overflowed")
	}
	if cause := waitClosed(t, r); cause != CauseSlowReader {
		t.Fatalf("cause %v, want slow_reader", cause)
	}
	_ = c
}

// TestIdleTimeout: a socket that answers no ping is dropped, and the owner
// hears CauseIdleTimeout; one that answers stays.
func TestIdleTimeout(t *testing.T) {
	_, url, conns := serve(t, Options{PingInterval: 30 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	alive := dial(t, url)
	ra := <-conns
	go func() {
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				return
			}
		}
	}()
	_ = dial(t, url) // never reads: never answers a ping
	rs := <-conns
	if cause := waitClosed(t, rs); cause != CauseIdleTimeout {
		t.Fatalf("silent socket: cause %v", cause)
	}
	select {
	case <-ra.closed:
		t.Fatalf("the live socket was closed: %v", ra.cause)
	default:
	}
}

// TestDropAndCloseDoNotBlock: both return at once, also for a parked
// socket, and each reports its cause.
func TestDropAndCloseDoNotBlock(t *testing.T) {
	_, url, conns := serve(t, Options{Linger: time.Millisecond})
	// One at a time: the server's side of two dials may arrive in either order.
	c1, r1 := dial(t, url), <-conns
	c2, r2 := dial(t, url), <-conns
	echo(t, c1, "x")
	start := time.Now()
	r1.c.Drop(CauseKilled)
	r2.c.Close(CloseGoingAway, "bye", CauseGoingAway)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("Drop and Close took %v", d)
	}
	if cause := waitClosed(t, r1); cause != CauseKilled {
		t.Fatalf("dropped: %v", cause)
	}
	// c2 gets the close frame; gorilla answers it, and the server closes.
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c2.ReadMessage()
	if !websocket.IsCloseError(err, CloseGoingAway) {
		t.Fatalf("closed socket read %v", err)
	}
	if cause := waitClosed(t, r2); cause != CauseGoingAway {
		t.Fatalf("closed: %v", cause)
	}
}

// TestProbe: a live peer answers the probe's ping.
func TestProbe(t *testing.T) {
	_, url, conns := serve(t, Options{Linger: time.Millisecond})
	c := dial(t, url)
	r := <-conns
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !r.c.Probe(ctx) {
		t.Fatal("a live peer failed the probe")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var _ net.Conn = (*replayConn)(nil)
