package hub

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/fakeclock"
)

// wire is the frames sent to several conns, in the order they were sent.
type wire struct {
	mu  sync.Mutex
	log []string // "name: frame"
}

// namedConn is a live conn that writes what it is sent to a shared wire,
// so that the order across members can be checked.
type namedConn struct {
	name string
	w    *wire
}

func (c *namedConn) Send(b []byte) bool {
	c.w.mu.Lock()
	c.w.log = append(c.w.log, c.name+": "+string(b))
	c.w.mu.Unlock()
	return true
}
func (c *namedConn) Probe(context.Context) bool { return true }
func (c *namedConn) Kill(string)                {}

func (w *wire) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.log
	w.log = nil
	return l
}

// short is a frame as "name: command[/definition][ reason][ +fields]", the
// extra fields being those beyond the Ant Media ones.
func short(t *testing.T, line string) string {
	t.Helper()
	name, frame, _ := strings.Cut(line, ": ")
	var m map[string]any
	if err := json.Unmarshal([]byte(frame), &m); err != nil {
		return line // a relayed test frame
	}
	s := name + ": " + m["command"].(string)
	if d, ok := m["definition"].(string); ok {
		s += "/" + d
	}
	if r, ok := m["reason"].(string); ok {
		s += " " + r
	}
	var extra []string
	for _, f := range []string{"resumeToken", "resumed", "peerSession"} {
		if _, ok := m[f]; ok {
			extra = append(extra, f)
		}
	}
	if extra != nil {
		s += " +" + strings.Join(extra, "+")
	}
	return s
}

func shorts(t *testing.T, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = short(t, l)
	}
	return out
}

func expectWire(t *testing.T, w *wire, want ...string) {
	t.Helper()
	if got := shorts(t, w.take()); !slices.Equal(got, want) {
		t.Fatalf("sent\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestRestartPlain: a plain member (an Ant Media SDK) that joins its full
// room again starts the call over: stop (reason restart) to the partner,
// joined to it, start to the partner, which is now the one that waited
// longest. Alone in the room, a repeated join changes nothing.
func TestRestartPlain(t *testing.T) {
	l := NewLocal(0, nil)
	ctx := context.Background()
	k := Key{"a", "r"}
	w := &wire{}
	a, b := &namedConn{"a", w}, &namedConn{"b", w}
	l.Join(ctx, a, k, JoinInfo{})
	l.Join(ctx, a, k, JoinInfo{Again: true})
	expectWire(t, w, "a: notification/joined", "a: notification/joined")
	l.Join(ctx, b, k, JoinInfo{})
	expectWire(t, w, "b: notification/joined", "a: start")

	l.Join(ctx, a, k, JoinInfo{Again: true})
	expectWire(t, w, "b: stop restart", "a: notification/joined", "b: start")
	l.Join(ctx, a, k, JoinInfo{Again: true}) // b now offers; a restarts again
	expectWire(t, w, "b: stop restart", "a: notification/joined", "b: start")
	l.Join(ctx, b, k, JoinInfo{Again: true})
	expectWire(t, w, "a: stop restart", "b: notification/joined", "a: start")
	if err := l.Relay(a, k, Lend([]byte("offer"))); err != nil {
		t.Fatal(err)
	}
	expectWire(t, w, "b: offer")

	l.Leave(b, k, ReasonLeft)
	expectWire(t, w, "b: notification/leaved", "a: stop left")
	l.Join(ctx, a, k, JoinInfo{Again: true})
	expectWire(t, w, "a: notification/joined")
}

// TestRestartDuetSDK: a member that sent a session (a duet SDK) restarts
// only when its join says restart; otherwise its repeated join answers
// joined (a fresh token) and the partner hears nothing.
func TestRestartDuetSDK(t *testing.T) {
	l := newHolding(new(fakeclock.Clock), 0)
	ctx := context.Background()
	k := Key{"a", "r"}
	w := &wire{}
	a, b := &namedConn{"a", w}, &namedConn{"b", w}
	l.Join(ctx, a, k, JoinInfo{Session: "sa", Resumable: true})
	l.Join(ctx, b, k, JoinInfo{Session: "sb", Resumable: true})
	expectWire(t, w, "a: notification/joined +resumeToken", "b: notification/joined +resumeToken+peerSession", "a: start +peerSession")

	l.Join(ctx, b, k, JoinInfo{Session: "sb", Resumable: true, Again: true})
	expectWire(t, w, "b: notification/joined +resumeToken+peerSession")

	l.Join(ctx, b, k, JoinInfo{Session: "sb", Resumable: true, Restart: true, Again: true})
	expectWire(t, w, "a: stop restart", "b: notification/joined +resumeToken+peerSession", "a: start +peerSession")

	// A session-less member paired with a duet SDK restarts on every join.
	c := &namedConn{"c", w}
	l.Leave(b, k, ReasonLeft)
	l.Join(ctx, c, k, JoinInfo{})
	w.take()
	l.Join(ctx, c, k, JoinInfo{Again: true})
	expectWire(t, w, "a: stop restart", "c: notification/joined", "a: start")
}

// TestRestartHeldPartner: a restart while the partner's seat is held drops
// what was kept for it (it belonged to the negotiation given up): the
// partner, back, gets its joined, then the stop and the start.
func TestRestartHeldPartner(t *testing.T) {
	clock := new(fakeclock.Clock)
	caps := &HoldCaps{}
	l := NewLocalWith(LocalOptions{ProbeTimeout: time.Millisecond, ReconnectGrace: grace, HoldBytes: 1 << 20, Clock: clock, HoldCaps: caps})
	ctx := context.Background()
	k := Key{"a", "r"}
	w := &wire{}
	a, b := &namedConn{"a", w}, &namedConn{"b", w}
	l.Join(ctx, a, k, JoinInfo{Session: "sa", Resumable: true})
	l.Join(ctx, b, k, JoinInfo{})
	l.Leave(a, k, ReasonClosed) // held; b is an Ant Media SDK: told nothing
	for _, f := range []string{"offer", "candidate"} {
		l.Relay(b, k, Lend([]byte(f)))
	}
	var tok string
	for _, line := range w.take() {
		if name, frame, _ := strings.Cut(line, ": "); name == "a" && strings.Contains(frame, "joined") {
			var m map[string]any
			json.Unmarshal([]byte(frame), &m)
			tok = m["resumeToken"].(string)
		}
	}
	if caps.Kept() == 0 {
		t.Fatal("nothing counted as kept")
	}
	l.Join(ctx, b, k, JoinInfo{Again: true})
	expectWire(t, w, "b: notification/joined")
	// The room messages kept for a (the stop and the start) are bounded
	// by number in its seat (room.Rules.MaxKept); kept bytes count
	// relayed frames, and those were dropped.
	if n := caps.Kept(); n != 0 {
		t.Fatalf("kept bytes after the restart: %d (the dropped frames still counted?)", n)
	}
	if err := l.Relay(b, k, Lend([]byte("late"))); err != nil {
		t.Fatal(err)
	}
	a2 := &namedConn{"a2", w}
	if err := l.Join(ctx, a2, k, JoinInfo{Session: "sa", Resumable: true, ResumeToken: tok}); err != nil {
		t.Fatal(err)
	}
	expectWire(t, w, "a2: notification/joined +resumeToken+resumed", "a2: stop restart", "a2: start", "a2: late")
	if st := l.Stats(); st.Held != 0 || clock.Pending() != 0 || caps.Kept() != 0 {
		t.Fatalf("stats %+v, %d timers, %d bytes kept", st, clock.Pending(), caps.Kept())
	}
}

// TestRestartEvents: operators see the call end (reason restart) and a
// new one start; the member stays the same one.
func TestRestartEvents(t *testing.T) {
	l, rec := newOpsLocal(t)
	ctx := context.Background()
	k := Key{"app", "r1"}
	a, b := &fakeConn{alive: true}, &fakeConn{alive: true}
	l.Join(ctx, a, k, JoinInfo{})
	l.Join(ctx, b, k, JoinInfo{})
	rec.take()
	snap, _ := l.Snapshot(ctx, Filter{})
	first := snap.Rooms[0].CallStart
	l.Join(ctx, a, k, JoinInfo{Again: true})
	evs := rec.take()
	if got, want := summary(evs), "call_ended 1 restart [1,2]; call_started 1 [2,1]; "; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if evs[0].CallStart != first || evs[1].CallStart.Before(first) {
		t.Fatalf("call starts %v, %v; first call %v", evs[0].CallStart, evs[1].CallStart, first)
	}
	snap, _ = l.Snapshot(ctx, Filter{})
	if ms := snap.Rooms[0].Members; len(ms) != 2 || ms[0].ID != "2" || ms[1].ID != "1" || !snap.Rooms[0].CallStart.Equal(evs[1].CallStart) {
		t.Fatalf("listing after restart: %+v", snap.Rooms[0])
	}
}
