package hub

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/fakeclock"
	"github.com/duet-rtc/duet/protocol"
)

const grace = 10 * time.Second

func newHolding(clock *fakeclock.Clock, holdBytes int) *Local {
	return NewLocalWith(LocalOptions{ProbeTimeout: time.Millisecond, ReconnectGrace: grace, HoldBytes: holdBytes, Clock: clock})
}

// lastJoined returns the last joined frame c got, decoded.
func (f *fakeConn) lastJoined(t testing.TB) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.frames) - 1; i >= 0; i-- {
		var m map[string]any
		if err := json.Unmarshal([]byte(f.frames[i]), &m); err != nil {
			t.Fatalf("frame %q: %v", f.frames[i], err)
		}
		if m["definition"] == "joined" {
			return m
		}
	}
	t.Fatal("no joined")
	return nil
}

func (f *fakeConn) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	fr := f.frames
	f.frames = nil
	return fr
}

// TestHoldResumeInOrder drives the hub directly: frames for a held seat,
// relays and room messages alike, reach the resumed socket in order after
// its joined, and the resume costs no timer.
func TestHoldResumeInOrder(t *testing.T) {
	clock := new(fakeclock.Clock)
	l := newHolding(clock, 1<<20)
	k := Key{"a", "r"}
	a, b := &fakeConn{alive: true}, &fakeConn{alive: true}
	ctx := context.Background()
	l.Join(ctx, a, k, JoinInfo{Resumable: true, Session: "sa"})
	l.Join(ctx, b, k, JoinInfo{Resumable: true, Session: "sb"})
	tok := b.lastJoined(t)["resumeToken"].(string)
	a.take()
	l.Leave(b, k, ReasonClosed)
	if clock.Pending() != 1 || l.Stats().Held != 1 {
		t.Fatalf("pending %d, stats %+v", clock.Pending(), l.Stats())
	}
	if got := a.take(); len(got) != 1 || got[0] != `{"command":"notification","definition":"peerReconnecting","streamId":"r","reconnectGrace":10000}` {
		t.Fatalf("partner got %q", got)
	}
	for _, f := range []string{"one", "two", "three"} {
		if err := l.Relay(a, k, Lend([]byte(f))); err != nil {
			t.Fatal(err)
		}
	}
	b2 := &fakeConn{alive: true}
	if err := l.Join(ctx, b2, k, JoinInfo{Resumable: true, Session: "sb", ResumeToken: tok}); err != nil {
		t.Fatal(err)
	}
	got := b2.take()
	if len(got) != 4 || !strings.Contains(got[0], `"resumed":true`) || strings.Join(got[1:], ",") != "one,two,three" {
		t.Fatalf("resumed socket got %q", got)
	}
	if got := a.take(); len(got) != 1 || !strings.Contains(got[0], "peerReconnected") {
		t.Fatalf("partner got %q", got)
	}
	if clock.Pending() != 0 || l.Stats().Held != 0 || l.Stats().Resumes != 1 {
		t.Fatalf("pending %d, stats %+v", clock.Pending(), l.Stats())
	}
	// The lost socket is no member any more: a late Leave changes nothing.
	l.Leave(b, k, ReasonClosed)
	if got := a.take(); len(got) != 0 {
		t.Fatalf("late leave of the old socket sent %q", got)
	}
}

// TestTokenStoredHashed checks the seat keeps only the token's hash.
func TestTokenStoredHashed(t *testing.T) {
	l := newHolding(new(fakeclock.Clock), 0)
	k := Key{"a", "r"}
	a := &fakeConn{alive: true}
	l.Join(context.Background(), a, k, JoinInfo{Resumable: true})
	tok := a.lastJoined(t)["resumeToken"].(string)
	s := l.shard(k).rooms[k].seats.Seat(a)
	if strings.Contains(string(s.Token[:]), tok) || len(tok) != 32 {
		t.Fatalf("token %q, stored %x", tok, s.Token)
	}
}

// TestCloseEndsHolds: Close frees held seats and cancels their timers, and
// later lost sockets are not held.
func TestCloseEndsHolds(t *testing.T) {
	clock := new(fakeclock.Clock)
	l := newHolding(clock, 0)
	ctx := context.Background()
	for _, room := range []string{"r1", "r2"} {
		k := Key{"a", room}
		a, b := &fakeConn{alive: true}, &fakeConn{alive: true}
		l.Join(ctx, a, k, JoinInfo{Resumable: true})
		l.Join(ctx, b, k, JoinInfo{Resumable: true})
		l.Leave(a, k, ReasonClosed)
		l.Leave(b, k, ReasonTimeout)
	}
	if st := l.Stats(); st.Held != 4 || clock.Pending() != 4 {
		t.Fatalf("stats %+v, pending %d", st, clock.Pending())
	}
	l.Close()
	if st := l.Stats(); st.Held != 0 || st.Rooms != 0 || clock.Pending() != 0 {
		t.Fatalf("after Close: stats %+v, pending %d", st, clock.Pending())
	}
	k := Key{"a", "r3"}
	a := &fakeConn{alive: true}
	l.Join(ctx, a, k, JoinInfo{Resumable: true})
	l.Leave(a, k, ReasonClosed)
	if st := l.Stats(); st.Held != 0 || st.Rooms != 0 {
		t.Fatalf("held after Close: %+v", st)
	}
}

// FuzzLocalHold applies random joins (plain, resumable, resumable asking
// for a restart, resuming with the newest token a client got), socket losses, leaves, relays, probes and
// clock advances by four clients over two rooms, and checks: at most two
// members, every member is a live client or a held seat, the held counter
// matches, and at the end, once the grace has passed, nothing is left:
// no room, no hold, no timer.
func FuzzLocalHold(f *testing.F) {
	f.Add([]byte{0x08, 0x09, 0x21, 0x11, 0x38, 0x29})
	f.Add([]byte{0x08, 0x09, 0x20, 0x11, 0x19, 0x30, 0x08, 0x40})
	f.Add([]byte{0x08, 0x01, 0x18, 0x29, 0x01, 0x48, 0x10, 0x00, 0x39})
	f.Fuzz(func(t *testing.T, ops []byte) {
		clock := new(fakeclock.Clock)
		l := newHolding(clock, 64)
		keys := []Key{{"a", "r0"}, {"a", "r1"}}
		type client struct {
			conn   *fakeConn
			rooms  map[Key]bool
			tokens map[Key]string
		}
		clients := make([]*client, 4)
		for i := range clients {
			clients[i] = &client{conn: &fakeConn{alive: true}, rooms: map[Key]bool{}, tokens: map[Key]string{}}
		}
		// lose ends c's socket: it leaves every room it is in (held or
		// not), and the client comes back on a new one later.
		lose := func(c *client) {
			for k := range c.rooms {
				l.Leave(c.conn, k, ReasonClosed)
			}
			c.conn.Kill("lost")
			c.conn, c.rooms = &fakeConn{alive: true}, map[Key]bool{}
		}
		join := func(c *client, k Key, info JoinInfo) {
			err := l.Join(context.Background(), c.conn, k, info)
			if err != nil {
				if !errors.Is(err, protocol.ErrNoSpaceForNewPeer) {
					t.Fatalf("join: %v", err)
				}
				return
			}
			c.rooms[k] = true
			if tok, _ := c.conn.lastJoined(t)["resumeToken"].(string); tok != "" {
				c.tokens[k] = tok
			}
		}
		for _, op := range ops {
			c, k := clients[op&3], keys[(op>>2)&1]
			switch (op >> 3) % 8 {
			case 0:
				join(c, k, JoinInfo{})
			case 1:
				join(c, k, JoinInfo{Resumable: true, Session: "s", Restart: op&0x40 != 0})
			case 2:
				join(c, k, JoinInfo{Resumable: true, ResumeToken: c.tokens[k]})
			case 3:
				lose(c)
			case 4:
				l.Leave(c.conn, k, ReasonLeft)
				delete(c.rooms, k)
			case 5:
				l.Relay(c.conn, k, Lend([]byte(`{"command":"peerMessageCommand","data":"0123456789"}`)))
			case 6:
				c.conn.mu.Lock()
				c.conn.alive = !c.conn.alive
				c.conn.mu.Unlock()
			case 7:
				clock.Advance(grace / 3)
			}
			// A killed socket (evicted, or taken over) is lost: the
			// transport leaves its rooms.
			for _, x := range clients {
				if x.conn.killed {
					lose(x)
				}
			}
			var held int64
			for _, key := range keys {
				sh := l.shard(key)
				sh.mu.Lock()
				e := sh.rooms[key]
				var members []Conn
				if e != nil {
					for _, s := range e.seats.Members() {
						members = append(members, s.Member)
						if s.IsHeld() {
							held++
						}
					}
				}
				sh.mu.Unlock()
				if len(members) > 2 {
					t.Fatalf("%d members", len(members))
				}
				for _, m := range members {
					live := false
					for _, x := range clients {
						live = live || (x.conn == m && x.rooms[key])
					}
					if !live && !l.heldIn(key, m) {
						t.Fatalf("member %p is neither a live client in the room nor held", m)
					}
				}
			}
			if st := l.Stats(); st.Held != held {
				t.Fatalf("held counter %d, held seats %d", st.Held, held)
			}
		}
		for _, c := range clients {
			lose(c)
		}
		clock.Advance(grace)
		if st := l.Stats(); st.Rooms != 0 || st.Held != 0 || clock.Pending() != 0 {
			t.Fatalf("left over: %+v, %d timers", st, clock.Pending())
		}
	})
}

func (l *Local) heldIn(k Key, m Conn) bool {
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.rooms[k]
	return e != nil && e.seats.Seat(m) != nil && e.seats.Seat(m).IsHeld()
}
