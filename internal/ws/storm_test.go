package ws

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestStormBoundedPools: many parked sockets all sending at once — a
// reconnect storm in small — are all served, by no more reader and writer
// goroutines at a time than the pools allow; the rest wait their turn.
// Also over wss:// (the record layer's buffers come with the reader).
func TestStormBoundedPools(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			o := Options{Linger: time.Millisecond, MaxReaders: 4, MaxWriters: 3}
			var e *Engine
			var url string
			var conns <-chan *recorder
			d := websocket.Dialer{}
			if tlsOn {
				e, url, conns = serveTLS(t, o)
				url += "/ws"
				d.TLSClientConfig = insecure()
			} else {
				e, url, conns = serve(t, o)
			}
			if !e.Polling() {
				t.Skip("no poller on this system")
			}
			const n = 150
			cs := make([]*websocket.Conn, n)
			recs := make([]*recorder, n)
			for i := range cs {
				c, _, err := d.Dial(url, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				cs[i], recs[i] = c, <-conns
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
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					msg := fmt.Sprintf("storm %d", i)
					if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
						errs <- err
						return
					}
					c.SetReadDeadline(time.Now().Add(20 * time.Second))
					if _, p, err := c.ReadMessage(); err != nil || string(p) != msg {
						errs <- fmt.Errorf("socket %d: %q %v", i, p, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			r, w := e.Readers(), e.Writers()
			t.Logf("readers %+v, writers %+v", r, w)
			if r.Peak > 4 || w.Peak > 3 {
				t.Fatalf("pools overran their bounds: readers %+v, writers %+v", r, w)
			}
			if r.PeakWaiting == 0 {
				t.Fatal("no socket ever waited for a reader: the storm did not test the bound")
			}
			waitFor(t, "the pools to empty", func() bool {
				r, w := e.Readers(), e.Writers()
				return r.Active == 0 && r.Waiting == 0 && w.Active == 0 && w.Waiting == 0
			})
		})
	}
}

// TestOutsideGivesThePlaceAway: a reader blocked in Outside (a join that
// waits for other sockets' answers) lets the only place in the pool serve
// the socket whose message it waits for, and gets a place again after.
func TestOutsideGivesThePlaceAway(t *testing.T) {
	e, url, conns := serve(t, Options{Linger: time.Millisecond, MaxReaders: 1})
	if !e.Polling() {
		t.Skip("no poller on this system")
	}
	// One at a time: the server's side of two dials may arrive in either order.
	a, ra := dial(t, url), <-conns
	b, rb := dial(t, url), <-conns
	heard := make(chan string, 1)
	rb.onMsg = func(r *recorder, p []byte) { heard <- string(p); r.c.Send(p) }
	ra.onMsg = func(r *recorder, p []byte) {
		if string(p) != "wait for b" {
			r.c.Send(p)
			return
		}
		// Waits for b's message, which only the one reader place can read.
		r.c.Outside(func() {
			select {
			case m := <-heard:
				r.c.Send([]byte("a saw " + m))
			case <-time.After(10 * time.Second):
				r.c.Send([]byte("a waited in vain"))
			}
		})
	}
	a.WriteMessage(websocket.TextMessage, []byte("wait for b"))
	waitFor(t, "a's reader to block outside the pool", func() bool { return e.Readers().Active == 0 })
	echo(t, b, "b speaks")
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, p, err := a.ReadMessage(); err != nil || string(p) != "a saw b speaks" {
		t.Fatalf("%q %v", p, err)
	}
	echo(t, a, "a again") // a's reader has a place again
	if r := e.Readers(); r.Peak > 1 {
		t.Fatalf("readers %+v", r)
	}
}
