package hub

import (
	"context"
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/fakeclock"
)

// TestHoldEvents: a held seat is still in the call, so holding and
// resuming report nothing; listings show the hold; a hold that expires
// ends the call with reason timeout, once.
func TestHoldEvents(t *testing.T) {
	clock := new(fakeclock.Clock)
	l := newHolding(clock, 1<<20)
	rec := &recorder{}
	l.SetObserver(rec)
	l.SetNodeInfo(func() NodeInfo { return NodeInfo{ID: "node-a"} })
	ctx := context.Background()
	k := Key{"app", "r1"}
	a, b := &fakeConn{alive: true}, &fakeConn{alive: true}
	l.Join(ctx, a, k, JoinInfo{Remote: "10.0.0.1", Resumable: true, Session: "sa"})
	l.Join(ctx, b, k, JoinInfo{Remote: "10.0.0.2", Resumable: true, Session: "sb"})
	if got, want := summary(rec.take()), "peer_joined 1; peer_joined 2; call_started 2 [1,2]; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	tok := b.lastJoined(t)["resumeToken"].(string)

	l.Leave(b, k, ReasonClosed)
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("a hold reported %q", summary(evs))
	}
	snap, _ := l.Snapshot(ctx, Filter{})
	if ms := snap.Rooms[0].Members; len(ms) != 2 || ms[0].Held || !ms[1].Held || !ms[1].Resumable {
		t.Fatalf("listing while held: %+v", ms)
	}

	b2 := &fakeConn{alive: true}
	if err := l.Join(ctx, b2, k, JoinInfo{Remote: "10.0.0.3", Resumable: true, Session: "sb", ResumeToken: tok}); err != nil {
		t.Fatal(err)
	}
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("a resume reported %q", summary(evs))
	}
	snap, _ = l.Snapshot(ctx, Filter{})
	if ms := snap.Rooms[0].Members; ms[1].Held || ms[1].ID != "2" || ms[1].Remote != "10.0.0.3" {
		t.Fatalf("listing after resume: %+v", ms)
	}

	l.Leave(b2, k, ReasonTimeout)
	clock.Advance(grace)
	if got, want := summary(rec.take()), "peer_left 2 timeout; call_ended 2 timeout [1,2]; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	l.Leave(a, k, ReasonLeft)
	if got, want := summary(rec.take()), "peer_left 1 left; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if st := l.Stats(); st.Rooms != 0 || st.Held != 0 {
		t.Fatalf("stats %+v", st)
	}
}
