package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/wstest"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/config"
)

// TestDeadMemberEvictedOnRejoin is the mobile reconnect: b's old socket is
// half-open (it no longer answers anything), b comes back on a new socket
// and joins; the old one is probed, evicted, and the join goes through.
func TestDeadMemberEvictedOnRejoin(t *testing.T) {
	s := start(t, func(c *config.Config) { c.ProbeTimeout = 300 * time.Millisecond })
	a, oldB := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, oldB, "r")
	a.KeepReading()
	// oldB stops reading: it answers no ping, like a phone that left the network.
	newB := wstest.Dial(t, s.URL("live"))
	began := time.Now()
	wstest.Join(newB, "r")
	newB.Expect("notification", "joined")
	t.Logf("rejoin admitted after %v", time.Since(began))
	wstest.Eventually(t, "one eviction", func() bool { return s.Rooms().Stats().Evictions == 1 })
	if code, _ := oldB.Closed(); code != websocket.CloseAbnormalClosure {
		t.Fatalf("old socket close code %d, want a dropped socket", code)
	}
}

// TestEvictionSendsStopThenStart checks the survivor's view of an eviction:
// stop (its partner is gone), then start (the newcomer is there).
func TestEvictionSendsStopThenStart(t *testing.T) {
	s := start(t, func(c *config.Config) { c.ProbeTimeout = 300 * time.Millisecond })
	a, oldB := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, oldB, "r")
	// a must answer the probe while the test waits on newB: its pong is
	// handled inside its own read, which the expect below does, but that
	// read begins only after newB's join. So read a in the background.
	got := make(chan msg, 4)
	go func() {
		for {
			m, err := a.TryRead(10 * time.Second)
			if err != nil {
				close(got)
				return
			}
			got <- m
		}
	}()
	newB := wstest.Dial(t, s.URL("live"))
	wstest.Join(newB, "r")
	newB.Expect("notification", "joined")
	for _, want := range []string{"stop", "start"} {
		select {
		case m := <-got:
			if m.Str("command") != want {
				t.Fatalf("survivor got %v, want %s", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("survivor did not get %s", want)
		}
	}
	a.WS.Close()
}

func TestIdleSocketClosed(t *testing.T) {
	s := start(t, func(c *config.Config) {
		c.PingInterval, c.IdleTimeout = 50*time.Millisecond, 300*time.Millisecond
	})
	alive := wstest.Dial(t, s.URL("live"))
	alive.KeepReading() // answers pings: stays
	silent := wstest.Dial(t, s.URL("live"))
	silent.Send(`{"command":"ping"}`) // then never reads again, so never answers a ping
	wstest.Eventually(t, "the silent socket to be closed", func() bool { return s.Connections() == 1 })
	// The live one is still served: a raw write and a read of the pong would
	// race with keepReading, so check the server still counts it.
	if s.Connections() != 1 {
		t.Fatalf("connections = %d", s.Connections())
	}
}

// TestSlowReaderDropped fills a socket that never reads until its send
// queue overflows; the server drops it and its partner is told.
func TestSlowReaderDropped(t *testing.T) {
	s := startSingle(t, func(c *config.Config) { c.MaxMessageBytes, c.SendQueueBytes = 64<<10, 256<<10 })
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	chunk := `{"command":"peerMessageCommand","streamId":"r","definition":"d","data":"` + strings.Repeat("z", 60<<10) + `"}`
	var stopped bool
	for i := 0; i < 2000 && !stopped; i++ { // at most ~120 MiB; loopback buffers hold a few MiB
		a.Send(chunk)
		if i%50 == 49 {
			a.Send(`{"command":"ping"}`)
			for {
				m := a.Read()
				if m.Str("command") == "stop" {
					stopped = true
				}
				if m.Str("command") == "pong" {
					break
				}
			}
		}
	}
	if !stopped {
		t.Fatal("slow reader was never dropped")
	}
	_, body := wstest.HTTPGet(t, s.HTTP()+"/metrics")
	if !strings.Contains(body, "duet_slow_clients_dropped_total 1") {
		t.Fatalf("metrics do not count the dropped client")
	}
	a.Quiet()
}

func TestDrain(t *testing.T) {
	s := startSingle(t)
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	stubborn := wstest.Dial(t, s.URL("live"))
	done := make(chan struct{})
	go func() { s.Stop(t); close(done) }()
	for _, c := range []*client{a, b, stubborn} {
		c.Expect("notification", "server_will_stop")
	}
	wstest.Eventually(t, "readiness to fail", func() bool { code, _ := wstest.HTTPGet(t, s.HTTP()+"/readyz"); return code == 503 })
	if _, resp, err := websocket.DefaultDialer.Dial(s.URL("live"), nil); err == nil || resp.StatusCode != 503 {
		t.Fatalf("new socket during drain: err %v resp %v, want 503", err, resp)
	}
	a.WS.Close() // well-behaved clients leave...
	b.Expect("stop", "")
	b.WS.Close()
	// ...the stubborn one is closed with 1001 when the drain timeout ends.
	if code, _ := stubborn.Closed(); code != websocket.CloseGoingAway {
		t.Fatalf("stubborn close code = %d, want 1001", code)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not finish draining")
	}
}

func TestHealthAndMetrics(t *testing.T) {
	s := startSingle(t)
	if code, body := wstest.HTTPGet(t, s.HTTP()+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz = %d %q", code, body)
	}
	if code, _ := wstest.HTTPGet(t, s.HTTP()+"/readyz"); code != 200 {
		t.Fatalf("readyz = %d", code)
	}
	a, b := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r")
	a.Send(msg{"command": "takeCandidate", "streamId": "r", "label": 0, "id": "0", "candidate": "c"})
	b.Expect("takeCandidate", "")
	a.Send(`{"command":"nope"}`)
	a.Expect("error", "unsupportedCommand")
	_, body := wstest.HTTPGet(t, s.HTTP()+"/metrics")
	for _, want := range []string{
		"duet_connections 2",
		"duet_rooms 1",
		"duet_joins_total 2",
		`duet_relayed_messages_total{command="takeCandidate"} 1`,
		`duet_relayed_bytes_total{command="takeCandidate"}`,
		`duet_errors_total{definition="unsupportedCommand"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestProbeOfBusyMember: a member whose reader is itself waiting on a probe
// in another room counts as alive and is not evicted.
func TestProbeOfBusyMember(t *testing.T) {
	// A long probe timeout keeps a's reader busy well past e's join.
	s := start(t, func(c *config.Config) { c.ProbeTimeout = 2 * time.Second })
	a, b, c, d := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	wstest.Pair(a, b, "r1")
	wstest.Pair(c, d, "r2")
	b.KeepReading()
	c.KeepReading()
	// d is dead (never reads). a joins r2: its reader blocks on probing r2's
	// members. Meanwhile nobody reads a, so without the busy rule a newcomer
	// in r1 would evict it.
	wstest.Join(a, "r2")
	e := wstest.Dial(t, s.URL("live"))
	wstest.Join(e, "r1")
	// Either a answered (it is alive): e is refused; d was evicted from r2.
	e.Expect("error", "NoSpaceForNewPeer")
	wstest.Eventually(t, "d evicted", func() bool { return s.Rooms().Stats().Evictions == 1 })
}
