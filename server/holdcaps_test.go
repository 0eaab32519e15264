package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// dialFrom connects to url as client address from, through a trusted
// proxy's X-Forwarded-For (the test sets trusted_proxies to loopback).
func dialFrom(t *testing.T, url, from string) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, http.Header{"X-Forwarded-For": {from}})
	if err != nil {
		t.Fatalf("dial %s as %s: %v", url, from, err)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{T: t, WS: ws}
}

// flood has sockets from address from join rooms resumable rooms each and
// drop them without leave, one socket at a time, as a client that cycles
// through max_connections_per_ip would; it waits until the backend has
// held or refused every seat.
func flood(t *testing.T, e *resumeEnv, from, prefix string, sockets, rooms int) {
	t.Helper()
	for i := range sockets {
		before := e.rooms.Stats()
		c := dialFrom(t, e.URL("app"), from)
		for r := range rooms {
			joinResumable(c, fmt.Sprintf("%s-%d-%d", prefix, i, r), "", "")
		}
		c.WS.Close()
		wstest.Eventually(t, "the flood's seats held or refused", func() bool {
			st := e.rooms.Stats()
			return st.Held+st.HoldLimits[hub.CapPerAddr]+st.HoldLimits[hub.CapTotal] ==
				before.Held+before.HoldLimits[hub.CapPerAddr]+before.HoldLimits[hub.CapTotal]+int64(rooms)
		})
		// A hold is refused before the plain leave that follows is
		// written (on a cluster, a moment later): wait until each room is
		// gone or holds its seat.
		wstest.Eventually(t, "the refused seats' leaves", func() bool {
			snap, err := e.nodes[0].Rooms().(hub.Admin).Snapshot(context.Background(), hub.Filter{App: "app"})
			if err != nil {
				return false
			}
			for _, ri := range snap.Rooms {
				if strings.HasPrefix(ri.Key.Stream, fmt.Sprintf("%s-%d-", prefix, i)) {
					for _, m := range ri.Members {
						if !m.Held {
							return false
						}
					}
				}
			}
			return true
		})
	}
}

// TestHeldSeatFloodStaysUnderCap is issue #20's second finding: one client
// that joins rooms resumable and drops its sockets in a loop left a held
// seat (and up to a megabyte of kept frames) behind per room, with no
// socket open. Past max_held_seats_per_ip its lost sockets leave at once,
// as for a client that never asked to resume: their rooms are free.
func TestHeldSeatFloodStaysUnderCap(t *testing.T) {
	capped := func(c *config.Config) {
		c.MaxHeldPerIP, c.MaxHeldSeats, c.MaxConnectionsPerIP = 4, 6, 2
		c.TrustedProxies = []string{"127.0.0.0/8"}
	}
	// On a cluster each node caps the seats of its own sockets: the
	// flood's six sockets go to two nodes in turn.
	t.Run("cluster", func(t *testing.T) {
		e := startResumeNodes(t, 2, capped)
		flood(t, e, "198.51.100.7", "flood", 6, 8)
		if st := e.rooms.Stats(); st.Held != 8 || st.HoldLimits[hub.CapPerAddr] != 40 {
			t.Fatalf("held %d, refused per address %d; want 8 and 40", st.Held, st.HoldLimits[hub.CapPerAddr])
		}
		pairIn(t, e, "flood-5-7")
	})
	e := startResumeNodes(t, 1, capped)
	flood(t, e, "198.51.100.7", "flood", 6, 8) // 48 seats asked for
	st := e.rooms.Stats()
	if st.Held != 4 || st.HoldLimits[hub.CapPerAddr] != 44 {
		t.Fatalf("held %d, refused per address %d; want 4 and 44", st.Held, st.HoldLimits[hub.CapPerAddr])
	}
	if got := e.metricSum(t, `duet_held_seat_limits_total{cap="per_ip"}`); got != 44 {
		t.Errorf(`duet_held_seat_limits_total{cap="per_ip"} = %v, want 44`, got)
	}
	pairIn(t, e, "flood-5-7")

	// An IPv6 client counts by its /64: another address in it is the
	// same client. Other addresses fill the total (6), and no more.
	flood(t, e, "2001:db8:1:2::10", "v6a", 1, 2)
	flood(t, e, "2001:db8:1:2::99", "v6b", 1, 3)
	st = e.rooms.Stats()
	if st.Held != 6 || st.HoldLimits[hub.CapPerAddr] != 44 || st.HoldLimits[hub.CapTotal] != 3 {
		t.Fatalf("held %d, refused per address %d and in total %d; want 6, 44 and 3", st.Held, st.HoldLimits[hub.CapPerAddr], st.HoldLimits[hub.CapTotal])
	}

	// Holds that end give their places back.
	e.clock.Advance(testGrace)
	e.waitHeld(t, 0)
	flood(t, e, "198.51.100.7", "again", 1, 3)
	if st := e.rooms.Stats(); st.Held != 3 {
		t.Fatalf("after the grace: held %d, want 3", st.Held)
	}
}

// pairIn checks that room is free: two newcomers pair in it (a seat held
// there would make the second one's join NoSpaceForNewPeer).
func pairIn(t *testing.T, e *resumeEnv, room string) {
	t.Helper()
	x, y := wstest.Dial(t, e.URL("app")), wstest.Dial(t, e.URL("app"))
	wstest.Join(x, room)
	x.Expect("notification", "joined")
	wstest.Join(y, room)
	y.Expect("notification", "joined")
	x.Expect("start", "")
}

// TestKeptBytesCap: the frames kept for all held seats together are
// bounded by max_held_bytes; the frame that would pass it ends its seat's
// hold, as when one seat's own bound is passed, and the partner gets stop.
func TestKeptBytesCap(t *testing.T) {
	// On two nodes a and c are on one, b and d on the other, which keeps
	// what they relay.
	for _, nodes := range []int{1, 2} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) { testKeptBytesCap(t, nodes) })
	}
}

func testKeptBytesCap(t *testing.T, nodes int) {
	e := startResumeNodes(t, nodes, func(c *config.Config) { c.MaxHeldBytes = 100 << 10 })
	relay := func(c *client, room string) {
		c.Send(msg{"command": "peerMessageCommand", "streamId": room, "definition": "d", "data": strings.Repeat("k", 60<<10)})
	}
	a, b := wstest.Dial(t, e.URL("app")), wstest.Dial(t, e.URL("app"))
	c, d := wstest.Dial(t, e.URL("app")), wstest.Dial(t, e.URL("app"))
	ja, _ := pairResumable(t, a, b, "kept-1")
	pairResumable(t, c, d, "kept-2")
	a.WS.Close()
	c.WS.Close()
	b.Expect("notification", "peerReconnecting")
	d.Expect("notification", "peerReconnecting")
	relay(b, "kept-1") // 60 KiB kept for a
	e.expectStats(t, func(st hub.Stats) bool { return st.KeptBytes > 60<<10 })
	relay(d, "kept-2") // would make 120 KiB: c's hold ends
	if st := d.Expect("stop", ""); st.Str("reason") != "timeout" {
		t.Fatalf("stop = %v, want reason timeout", st)
	}
	// A cluster node learns a moment later that a hold it wrote has ended.
	e.expectStats(t, func(st hub.Stats) bool {
		return st.Held == 1 && st.HoldLimits[hub.CapKept] == 1 && st.KeptBytes > 60<<10 && st.KeptBytes < 100<<10
	})
	st := e.rooms.Stats()
	if got := e.metricSum(t, "duet_held_bytes"); got != float64(st.KeptBytes) {
		t.Errorf("duet_held_bytes = %v, want %d", got, st.KeptBytes)
	}
	// a comes back and gets what was kept; nothing is kept any more.
	na := wstest.Dial(t, e.URL("app"))
	if j := joinResumable(na, "kept-1", "sa", ja.Str("resumeToken")); j["resumed"] != true {
		t.Fatalf("joined = %v, want resumed", j)
	}
	if m := na.Expect("peerMessageCommand", "d"); len(m.Str("data")) != 60<<10 {
		t.Fatalf("kept frame has %d bytes of data", len(m.Str("data")))
	}
	e.expectStats(t, func(st hub.Stats) bool { return st.KeptBytes == 0 && st.Held == 0 })
}
