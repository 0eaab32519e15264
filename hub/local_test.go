package hub

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/protocol"
)

// fakeConn stands in for a socket: it records frames, answers probes as
// told, and is dropped by Kill. (The transport's real sockets are tested in
// package server; this tests the hub's bookkeeping under any sequence.)
type fakeConn struct {
	mu     sync.Mutex
	frames []string
	alive  bool
	killed bool
}

func (f *fakeConn) Send(b []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, string(b))
	return !f.killed
}

func (f *fakeConn) Probe(context.Context) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive && !f.killed
}

func (f *fakeConn) Kill(string) {
	f.mu.Lock()
	f.killed = true
	f.mu.Unlock()
}

func (l *Local) members(k Key) []Conn {
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var ms []Conn
	if e := sh.rooms[k]; e != nil {
		for _, s := range e.seats.Members() {
			ms = append(ms, s.Member)
		}
	}
	return ms
}

// FuzzLocal applies random joins, leaves, disconnects and liveness changes
// of four connections over two rooms and checks: at most two members, no
// killed connection stays a member, and everything is forgotten at the end.
func FuzzLocal(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x02, 0x42, 0x03, 0x21})
	f.Add([]byte{0x00, 0x11, 0x22, 0x33, 0x60, 0x03, 0x52})
	f.Fuzz(func(t *testing.T, ops []byte) {
		l := NewLocal(time.Millisecond, slog.New(slog.DiscardHandler))
		conns := make([]*fakeConn, 4)
		rooms := map[*fakeConn]map[Key]bool{}
		for i := range conns {
			conns[i] = &fakeConn{alive: true}
			rooms[conns[i]] = map[Key]bool{}
		}
		keys := []Key{{"a", "r0"}, {"a", "r1"}}
		disconnect := func(c *fakeConn) {
			for k := range rooms[c] {
				l.Leave(c, k, ReasonClosed)
			}
			rooms[c] = map[Key]bool{}
		}
		for _, op := range ops {
			c, k := conns[op&3], keys[(op>>2)&1]
			switch (op >> 3) % 5 {
			case 0, 1:
				err := l.Join(context.Background(), c, k, JoinInfo{})
				if err == nil {
					rooms[c][k] = true
				} else if !errors.Is(err, protocol.ErrNoSpaceForNewPeer) {
					t.Fatalf("join: %v", err)
				}
			case 2:
				l.Leave(c, k, ReasonLeft)
				delete(rooms[c], k)
			case 3:
				c.alive = !c.alive
			case 4:
				disconnect(c)
			}
			// The transport reacts to Kill by disconnecting; do the same.
			for _, x := range conns {
				if x.killed {
					disconnect(x)
					*x = fakeConn{alive: true}
				}
			}
			for _, key := range keys {
				ms := l.members(key)
				if len(ms) > 2 {
					t.Fatalf("%d members", len(ms))
				}
				for _, m := range ms {
					if m.(*fakeConn).killed || !rooms[m.(*fakeConn)][key] {
						t.Fatalf("member %p is killed or not tracked", m)
					}
				}
			}
		}
		for _, c := range conns {
			disconnect(c)
		}
		if st := l.Stats(); st.Rooms != 0 {
			t.Fatalf("%d rooms left", st.Rooms)
		}
	})
}
