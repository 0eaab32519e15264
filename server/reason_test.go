package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

// spyRooms is hub.Local that records why members leave.
type spyRooms struct {
	*hub.Local
	mu      sync.Mutex
	reasons map[string][]hub.Reason
}

func (s *spyRooms) Leave(c hub.Conn, k hub.Key, r hub.Reason) {
	s.mu.Lock()
	s.reasons[k.Stream] = append(s.reasons[k.Stream], r)
	s.mu.Unlock()
	s.Local.Leave(c, k, r)
}

func (s *spyRooms) get(room string) []hub.Reason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hub.Reason(nil), s.reasons[room]...)
}

// TestLeaveReasons: the rooms learn why a member went: it asked (left), its
// socket closed (closed), it went silent (timeout). A leave for a room the
// socket is not in never reaches them.
func TestLeaveReasons(t *testing.T) {
	cfg := testserver.Config()
	cfg.PingInterval, cfg.IdleTimeout = 50*time.Millisecond, 300*time.Millisecond
	spy := &spyRooms{Local: hub.NewLocal(cfg.ProbeTimeout, nil), reasons: map[string][]hub.Reason{}}
	s := testserver.Start(t, cfg, server.Options{Rooms: spy})

	a := wstest.Dial(t, s.URL("live"))
	wstest.Join(a, "left")
	a.Expect("notification", "joined")
	a.Send(msg{"command": "leave", "streamId": "left"})
	a.Expect("notification", "leaved")
	a.Send(msg{"command": "leave", "streamId": "left"})
	a.Expect("notification", "leaved") // not in it any more: answered, never passed on

	b := wstest.Dial(t, s.URL("live"))
	wstest.Join(b, "closed")
	b.Expect("notification", "joined")
	b.WS.Close()

	c := wstest.Dial(t, s.URL("live"))
	wstest.Join(c, "silent")
	c.Expect("notification", "joined") // and then never reads: no pong

	for room, want := range map[string]hub.Reason{"left": hub.ReasonLeft, "closed": hub.ReasonClosed, "silent": hub.ReasonTimeout} {
		wstest.Eventually(t, "a leave of "+room, func() bool { return len(spy.get(room)) > 0 })
		if got := spy.get(room); len(got) != 1 || got[0] != want {
			t.Errorf("room %s: reasons %v, want [%v]", room, got, want)
		}
	}
}
