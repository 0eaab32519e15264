package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an Observer that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) RoomEvent(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// summary writes events as "kind member reason" lines for comparison.
func summary(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s %s", e.Kind, e.Member.ID)
		if e.Reason != 0 {
			fmt.Fprintf(&b, " %s", e.Reason)
		}
		if len(e.Members) > 0 {
			ids := make([]string, len(e.Members))
			for i, m := range e.Members {
				ids[i] = m.ID
			}
			fmt.Fprintf(&b, " [%s]", strings.Join(ids, ","))
		}
		b.WriteString("; ")
	}
	return b.String()
}

// removable is a fakeConn that hears of operators' removals.
type removable struct {
	fakeConn
	removed []Key
}

func (r *removable) Removed(k Key) {
	r.mu.Lock()
	r.removed = append(r.removed, k)
	r.mu.Unlock()
}

func newOpsLocal(t *testing.T) (*Local, *recorder) {
	t.Helper()
	l := NewLocal(time.Millisecond, slog.New(slog.DiscardHandler))
	rec := &recorder{}
	l.SetObserver(rec)
	l.SetNodeInfo(func() NodeInfo { return NodeInfo{ID: "node-a", Connections: 7} })
	return l, rec
}

func TestLocalRoomEvents(t *testing.T) {
	l, rec := newOpsLocal(t)
	ctx := context.Background()
	k := Key{"app", "r1"}
	a, b, c := &fakeConn{alive: true}, &fakeConn{alive: true}, &fakeConn{alive: true}
	if err := l.Join(ctx, a, k, JoinInfo{Remote: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Join(ctx, a, k, JoinInfo{Remote: "10.0.0.1"}); err != nil { // repeated: no event
		t.Fatal(err)
	}
	if err := l.Join(ctx, b, k, JoinInfo{Remote: "10.0.0.2", Resumable: true}); err != nil {
		t.Fatal(err)
	}
	evs := rec.take()
	if got, want := summary(evs), "peer_joined 1; peer_joined 2; call_started 2 [1,2]; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	// A backend that holds no seats (grace 0) lists nobody as resumable.
	if evs[1].Member.Remote != "10.0.0.2" || evs[1].Member.Resumable || evs[1].Node != "node-a" || evs[2].CallStart.IsZero() {
		t.Fatalf("event details: %+v", evs[1:])
	}
	l.Leave(a, k, ReasonClosed)
	if got, want := summary(rec.take()), "peer_left 1 closed; call_ended 1 closed [1,2]; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if err := l.Join(ctx, c, k, JoinInfo{}); err != nil {
		t.Fatal(err)
	}
	l.Leave(b, k, ReasonLeft)
	l.Leave(c, k, ReasonTimeout)
	if got, want := summary(rec.take()), "peer_joined 3; call_started 3 [2,3]; peer_left 2 left; call_ended 2 left [2,3]; peer_left 3 timeout; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestLocalSnapshotKickEnd(t *testing.T) {
	l, rec := newOpsLocal(t)
	ctx := context.Background()
	k1, k2 := Key{"app", "r1"}, Key{"other", "r2"}
	a, b, c := &removable{fakeConn: fakeConn{alive: true}}, &removable{fakeConn: fakeConn{alive: true}}, &fakeConn{alive: true}
	for _, j := range []struct {
		c Conn
		k Key
	}{{a, k1}, {b, k1}, {c, k2}} {
		if err := l.Join(ctx, j.c, j.k, JoinInfo{Remote: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := l.Snapshot(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Rooms) != 2 || snap.Rooms[0].Key != k1 || len(snap.Rooms[0].Members) != 2 || snap.Rooms[0].CallStart.IsZero() ||
		snap.Rooms[1].Key != k2 || !snap.Rooms[1].CallStart.IsZero() || snap.Partial {
		t.Fatalf("snapshot %+v", snap)
	}
	if n := snap.Nodes[0]; n.ID != "node-a" || n.Rooms != 2 || n.Members != 3 || n.Connections != 7 {
		t.Fatalf("node %+v", n)
	}
	if snap, _ := l.Snapshot(ctx, Filter{App: "app", Stream: "r1"}); len(snap.Rooms) != 1 {
		t.Fatalf("filtered snapshot %+v", snap)
	}
	if snap, _ := l.Snapshot(ctx, Filter{Limit: 1}); len(snap.Rooms) != 1 || !snap.Truncated {
		t.Fatalf("limited snapshot %+v", snap)
	}
	rec.take()

	if err := l.Kick(ctx, k1, "nope", ReasonKicked); !errors.Is(err, ErrNoSuchMember) {
		t.Fatalf("kick unknown member: %v", err)
	}
	if err := l.Kick(ctx, Key{"app", "none"}, "1", ReasonKicked); !errors.Is(err, ErrNoSuchRoom) {
		t.Fatalf("kick in unknown room: %v", err)
	}
	a.frames, b.frames = nil, nil
	if err := l.Kick(ctx, k1, "2", ReasonKicked); err != nil {
		t.Fatal(err)
	}
	wantB := []string{`{"command":"stop","streamId":"r1","reason":"kicked"}`, `{"command":"notification","definition":"leaved","streamId":"r1","reason":"kicked"}`}
	if fmt.Sprint(b.frames) != fmt.Sprint(wantB) || len(b.removed) != 1 {
		t.Fatalf("kicked member got %q, removed %v", b.frames, b.removed)
	}
	if fmt.Sprint(a.frames) != fmt.Sprint(wantB[:1]) {
		t.Fatalf("partner got %q", a.frames)
	}
	if got, want := summary(rec.take()), "peer_left 2 kicked; call_ended 2 kicked [1,2]; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	// The kicked socket's repeated join is refused: it must join afresh.
	if err := l.Join(ctx, b, k1, JoinInfo{Again: true}); !errors.Is(err, ErrRemoved) {
		t.Fatalf("again-join after kick: %v", err)
	}
	if err := l.Join(ctx, b, k1, JoinInfo{}); err != nil {
		t.Fatal(err)
	}
	a.frames, b.frames = nil, nil
	rec.take()
	n, err := l.EndRoom(ctx, k1, ReasonKicked)
	if err != nil || n != 2 {
		t.Fatalf("end room: %d, %v", n, err)
	}
	for _, x := range []*removable{a, b} {
		if fmt.Sprint(x.frames) != fmt.Sprint(wantB) {
			t.Fatalf("ended room's member got %q", x.frames)
		}
	}
	if got, want := summary(rec.take()), "peer_left 1 kicked; call_ended 1 kicked [1,4]; peer_left 4 kicked; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if _, err := l.EndRoom(ctx, k1, ReasonKicked); !errors.Is(err, ErrNoSuchRoom) {
		t.Fatalf("end an ended room: %v", err)
	}
	if st := l.Stats(); st.Rooms != 1 {
		t.Fatalf("%d rooms, want 1", st.Rooms)
	}
}

func TestLocalPrelude(t *testing.T) {
	l, _ := newOpsLocal(t)
	ctx := context.Background()
	k := Key{"app", "r"}
	a, b, c := &fakeConn{alive: true}, &fakeConn{alive: true}, &fakeConn{alive: true}
	for _, x := range []*fakeConn{a, b} {
		if err := l.Join(ctx, x, k, JoinInfo{Prelude: []byte("ice")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Join(ctx, c, k, JoinInfo{Prelude: []byte("ice")}); err == nil {
		t.Fatal("third joined")
	}
	if got := fmt.Sprint(b.frames); got != `[ice {"command":"notification","definition":"joined","streamId":"r"}]` {
		t.Fatalf("joiner got %s", got)
	}
	if len(c.frames) != 0 {
		t.Fatalf("refused joiner got %q", c.frames)
	}
}

// FuzzLocalEvents applies random joins, leaves, kicks and room ends and
// checks that the events balance: every join is matched by one leave and
// every call start by one end, and the listing agrees with the members.
func FuzzLocalEvents(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x12, 0x23, 0x02, 0x30})
	f.Add([]byte{0x00, 0x01, 0x02, 0x43, 0x51, 0x10})
	f.Fuzz(func(t *testing.T, ops []byte) {
		l, rec := newOpsLocal(t)
		ctx := context.Background()
		conns := []*removable{{}, {}, {}}
		keys := []Key{{"a", "r0"}, {"a", "r1"}}
		for _, op := range ops {
			c, k := conns[int(op&3)%3], keys[(op>>2)&1]
			c.alive = true
			switch (op >> 3) % 4 {
			case 0:
				l.Join(ctx, c, k, JoinInfo{})
			case 1:
				l.Leave(c, k, ReasonLeft)
			case 2:
				if snap, _ := l.Snapshot(ctx, Filter{App: k.App, Stream: k.Stream}); len(snap.Rooms) == 1 {
					l.Kick(ctx, k, snap.Rooms[0].Members[0].ID, ReasonKicked)
				}
			case 3:
				l.EndRoom(ctx, k, ReasonKicked)
			}
			snap, _ := l.Snapshot(ctx, Filter{})
			for _, r := range snap.Rooms {
				if got := len(l.members(r.Key)); got != len(r.Members) || (got == 2) != !r.CallStart.IsZero() {
					t.Fatalf("listing %+v, %d members", r, got)
				}
			}
		}
		for _, c := range conns {
			for _, k := range keys {
				l.Leave(c, k, ReasonClosed)
			}
		}
		count := map[EventKind]int{}
		for _, ev := range rec.take() {
			count[ev.Kind]++
		}
		if count[PeerJoined] != count[PeerLeft] || count[CallStarted] != count[CallEnded] {
			t.Fatalf("unbalanced events: %v", count)
		}
	})
}

// BenchmarkSnapshot lists 10,000 full rooms (what GET /v1/admin/stats
// reads on one node): go test -run X -bench Snapshot ./hub
func BenchmarkSnapshot(b *testing.B) {
	l := NewLocal(time.Millisecond, slog.New(slog.DiscardHandler))
	l.SetNodeInfo(func() NodeInfo { return NodeInfo{ID: "n"} })
	ctx := context.Background()
	for i := range 10000 {
		k := Key{"app", fmt.Sprintf("room-%05d", i)}
		for range 2 {
			if err := l.Join(ctx, &fakeConn{alive: true}, k, JoinInfo{Remote: "203.0.113.1:5000"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		snap, _ := l.Snapshot(ctx, Filter{})
		if len(snap.Rooms) != 10000 {
			b.Fatal(len(snap.Rooms))
		}
	}
}
