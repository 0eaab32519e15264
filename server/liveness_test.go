package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/config"
)

// TestDeadMemberEvictedOnRejoin is the mobile reconnect: b's old socket is
// half-open (it no longer answers anything), b comes back on a new socket
// and joins; the old one is probed, evicted, and the join goes through.
func TestDeadMemberEvictedOnRejoin(t *testing.T) {
	s := start(t, func(c *config.Config) { c.ProbeTimeout = 300 * time.Millisecond })
	a, oldB := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, oldB, "r")
	a.keepReading()
	// oldB stops reading: it answers no ping, like a phone that left the network.
	newB := dial(t, s.URL("live"))
	began := time.Now()
	join(newB, "r")
	newB.expect("notification", "joined")
	t.Logf("rejoin admitted after %v", time.Since(began))
	eventually(t, "one eviction", func() bool { return s.Rooms().Stats().Evictions == 1 })
	if code, _ := oldB.closed(); code != websocket.CloseAbnormalClosure {
		t.Fatalf("old socket close code %d, want a dropped socket", code)
	}
}

// TestEvictionSendsStopThenStart checks the survivor's view of an eviction:
// stop (its partner is gone), then start (the newcomer is there).
func TestEvictionSendsStopThenStart(t *testing.T) {
	s := start(t, func(c *config.Config) { c.ProbeTimeout = 300 * time.Millisecond })
	a, oldB := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, oldB, "r")
	// a must answer the probe while the test waits on newB: its pong is
	// handled inside its own read, which the expect below does, but that
	// read begins only after newB's join. So read a in the background.
	got := make(chan msg, 4)
	go func() {
		for {
			m, err := a.tryRead(10 * time.Second)
			if err != nil {
				close(got)
				return
			}
			got <- m
		}
	}()
	newB := dial(t, s.URL("live"))
	join(newB, "r")
	newB.expect("notification", "joined")
	for _, want := range []string{"stop", "start"} {
		select {
		case m := <-got:
			if m.str("command") != want {
				t.Fatalf("survivor got %v, want %s", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("survivor did not get %s", want)
		}
	}
	a.ws.Close()
}

func TestIdleSocketClosed(t *testing.T) {
	s := start(t, func(c *config.Config) {
		c.PingInterval, c.IdleTimeout = 50*time.Millisecond, 300*time.Millisecond
	})
	alive := dial(t, s.URL("live"))
	alive.keepReading() // answers pings: stays
	silent := dial(t, s.URL("live"))
	silent.send(`{"command":"ping"}`) // then never reads again, so never answers a ping
	eventually(t, "the silent socket to be closed", func() bool { return s.Connections() == 1 })
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
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "r")
	chunk := `{"command":"peerMessageCommand","streamId":"r","definition":"d","data":"` + strings.Repeat("z", 60<<10) + `"}`
	var stopped bool
	for i := 0; i < 2000 && !stopped; i++ { // at most ~120 MiB; loopback buffers hold a few MiB
		a.send(chunk)
		if i%50 == 49 {
			a.send(`{"command":"ping"}`)
			for {
				m := a.read()
				if m.str("command") == "stop" {
					stopped = true
				}
				if m.str("command") == "pong" {
					break
				}
			}
		}
	}
	if !stopped {
		t.Fatal("slow reader was never dropped")
	}
	_, body := httpGet(t, s.HTTP()+"/metrics")
	if !strings.Contains(body, "duet_slow_clients_dropped_total 1") {
		t.Fatalf("metrics do not count the dropped client")
	}
	a.quiet()
}

func TestDrain(t *testing.T) {
	s := startSingle(t)
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "r")
	stubborn := dial(t, s.URL("live"))
	done := make(chan struct{})
	go func() { s.Stop(t); close(done) }()
	for _, c := range []*client{a, b, stubborn} {
		c.expect("notification", "server_will_stop")
	}
	eventually(t, "readiness to fail", func() bool { code, _ := httpGet(t, s.HTTP()+"/readyz"); return code == 503 })
	if _, resp, err := websocket.DefaultDialer.Dial(s.URL("live"), nil); err == nil || resp.StatusCode != 503 {
		t.Fatalf("new socket during drain: err %v resp %v, want 503", err, resp)
	}
	a.ws.Close() // well-behaved clients leave...
	b.expect("stop", "")
	b.ws.Close()
	// ...the stubborn one is closed with 1001 when the drain timeout ends.
	if code, _ := stubborn.closed(); code != websocket.CloseGoingAway {
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
	if code, body := httpGet(t, s.HTTP()+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz = %d %q", code, body)
	}
	if code, _ := httpGet(t, s.HTTP()+"/readyz"); code != 200 {
		t.Fatalf("readyz = %d", code)
	}
	a, b := dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "r")
	a.send(msg{"command": "takeCandidate", "streamId": "r", "label": 0, "id": "0", "candidate": "c"})
	b.expect("takeCandidate", "")
	a.send(`{"command":"nope"}`)
	a.expect("error", "unsupportedCommand")
	_, body := httpGet(t, s.HTTP()+"/metrics")
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
	a, b, c, d := dial(t, s.URL("live")), dial(t, s.URL("live")), dial(t, s.URL("live")), dial(t, s.URL("live"))
	pair(a, b, "r1")
	pair(c, d, "r2")
	b.keepReading()
	c.keepReading()
	// d is dead (never reads). a joins r2: its reader blocks on probing r2's
	// members. Meanwhile nobody reads a, so without the busy rule a newcomer
	// in r1 would evict it.
	join(a, "r2")
	e := dial(t, s.URL("live"))
	join(e, "r1")
	// Either a answered (it is alive): e is refused; d was evicted from r2.
	e.expect("error", "NoSpaceForNewPeer")
	eventually(t, "d evicted", func() bool { return s.Rooms().Stats().Evictions == 1 })
}
