package room

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// harness drives one Seats[string] with a manual clock and numbered
// tokens, and prints what each step sends as "to: kind[ detail]".
type harness struct {
	t     *testing.T
	s     Seats[string]
	r     Rules
	now   time.Time
	tok   int
	tags  int
	last  *Step[string]
	token map[string]string // the last token each member was given
}

func newHarness(t *testing.T, grace time.Duration) *harness {
	h := &harness{t: t, now: t0, token: map[string]string{}}
	h.r = Rules{Grace: grace, HoldBytes: 64,
		Token: func() string { h.tok++; return fmt.Sprintf("tok%d", h.tok) },
		Tag:   func() string { h.tags++; return fmt.Sprint(h.tags) }}
	return h
}

func (h *harness) step(f func(st *Step[string])) []string {
	h.t.Helper()
	st := h.s.Begin(&h.r, h.now, "w")
	f(st)
	h.last = st
	var out []string
	for _, m := range st.Msgs {
		s := m.To + ": " + m.Kind.String()
		switch {
		case m.Kind == Stop && m.Reason != 0, m.Kind == Leaved && m.Reason != 0:
			s += " " + m.Reason.String()
		case m.Kind == Start && m.Session != "":
			s += " " + m.Session
		case m.Kind == Frame:
			s += " " + string(m.Frame)
		case m.Kind == Joined:
			if m.Token != "" {
				h.token[m.To] = m.Token
				s += " +token"
			}
			if m.Resumed {
				s += " +resumed"
			}
			if m.Session != "" {
				s += " +peer=" + m.Session
			}
		}
		s += meshDetail(m)
		out = append(out, s)
	}
	return out
}

func (h *harness) notes() string {
	var b strings.Builder
	for _, n := range h.last.Notes {
		fmt.Fprintf(&b, "%d:%s", n.Kind, n.Seat.Member)
		if n.Reason != 0 {
			fmt.Fprintf(&b, "/%s", n.Reason)
		}
		b.WriteString(" ")
	}
	return b.String()
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("sent\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func (h *harness) join(j Joiner[string]) ([]string, JoinResult) {
	var res JoinResult
	out := h.step(func(st *Step[string]) { res = st.Join(j) })
	return out, res
}

func duet(m, session string) Joiner[string] {
	return Joiner[string]{Member: m, Session: session, Resumable: true}
}

func TestSeatsPlainRoom(t *testing.T) {
	h := newHarness(t, 0)
	out, res := h.join(Joiner[string]{Member: "a", Prelude: true})
	expect(t, out, "a: prelude", "a: joined")
	if res != Admitted || h.notes() != "1:a " {
		t.Fatalf("%v %q", res, h.notes())
	}
	out, _ = h.join(Joiner[string]{Member: "b", Prelude: true})
	expect(t, out, "b: prelude", "b: joined", "a: start")
	if h.notes() != "1:b 2:b " || h.s.Call() != t0 {
		t.Fatalf("notes %q, call %v", h.notes(), h.s.Call())
	}
	if out, res := h.join(Joiner[string]{Member: "c"}); res != Full || out != nil {
		t.Fatalf("%v %q", res, out)
	}
	expect(t, h.step(func(st *Step[string]) { st.Leave("a", ReasonLeft) }), "a: leaved", "b: stop left")
	if h.notes() != "4:a/left 3:a/left " || !h.s.Call().IsZero() {
		t.Fatalf("notes %q", h.notes())
	}
	expect(t, h.step(func(st *Step[string]) { st.Leave("a", ReasonLeft) }), "a: leaved")
	// Resumable is ignored without a grace: no token, and a lost socket leaves.
	out, _ = h.join(duet("c", "sc"))
	expect(t, out, "c: joined", "b: start")
	if h.step(func(st *Step[string]) { st.Lost("c", ReasonClosed, true) }); h.s.Has("c") {
		t.Fatal("held without a grace")
	}
}

func TestSeatsRepeatAndRestart(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(Joiner[string]{Member: "a"})
	out, res := h.join(Joiner[string]{Member: "a", Again: true})
	expect(t, out, "a: joined")
	if res != Repeated {
		t.Fatal(res)
	}
	h.join(Joiner[string]{Member: "b"})
	out, res = h.join(Joiner[string]{Member: "a", Again: true})
	expect(t, out, "b: stop restart", "a: joined", "b: start")
	if res != Restarted || h.notes() != "3:a/restart 2:a " {
		t.Fatalf("%v %q", res, h.notes())
	}
	// A duet SDK restarts only when it asks.
	h.s = Seats[string]{}
	h.join(duet("a", "sa"))
	h.join(duet("b", "sb"))
	out, res = h.join(duet("a", "sa"))
	expect(t, out, "a: joined +token +peer=sb")
	if res != Repeated {
		t.Fatal(res)
	}
	j := duet("a", "sa")
	j.Restart = true
	out, _ = h.join(j)
	expect(t, out, "b: stop restart", "a: joined +token +peer=sb", "b: start sa")
	// Removed: the transport thought it a member.
	if out, res := h.join(Joiner[string]{Member: "z", Again: true}); res != Removed || out != nil {
		t.Fatalf("%v %q", res, out)
	}
}

func TestSeatsHoldAndResume(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(duet("a", "sa"))
	h.join(duet("b", "sb"))
	old := h.token["b"]
	if held := h.s.Holds(&h.r, "b", ReasonClosed); !held {
		t.Fatal("does not hold")
	}
	expect(t, h.step(func(st *Step[string]) { st.Lost("b", ReasonClosed, true) }), "a: peerReconnecting")
	if h.notes() != "5:b " || h.s.Seat("b").Held != t0.Add(10*time.Second) || h.s.Seat("b").HeldBy != "w" {
		t.Fatalf("notes %q, seat %+v", h.notes(), h.s.Seat("b"))
	}
	// Frames a relays are kept for b, with its own.
	to, keep, ok := h.s.Route("a")
	if to != "b" || keep == nil || !ok || !keep.Add([]byte("offer"), false, h.r.KeepLimit(), nil) {
		t.Fatal("route")
	}
	h.now = h.now.Add(5 * time.Second)
	j := duet("b2", "sb")
	j.Token, j.Prelude = old, true
	out, res := h.join(j)
	expect(t, out, "b2: prelude", "b2: joined +token +resumed +peer=sa", "b2: frame offer", "a: peerReconnected")
	if res != Resumed || h.notes() != "6:b2 " || h.last.Unkept != 5 {
		t.Fatalf("%v %q unkept %d", res, h.notes(), h.last.Unkept)
	}
	if n := h.last.Notes[0]; n.Prev.Member != "b" || n.Live || n.Seat.Tag != "2" || n.Seat.Joined != t0 {
		t.Fatalf("resumed note %+v", n)
	}
	// The old token is spent; the new one works, half-open too.
	if _, res := h.join(Joiner[string]{Member: "x", Token: old}); res != Full {
		t.Fatalf("old token: %v", res)
	}
	j = duet("b3", "sb")
	j.Token = h.token["b2"]
	out, _ = h.join(j)
	expect(t, out, "b3: joined +token +resumed +peer=sa", "a: peerReconnected")
	if n := h.last.Notes[0]; !n.Live || n.Prev.Member != "b2" {
		t.Fatalf("half-open note %+v", n)
	}
}

// TestSeatsKeptCancel is the rule behind issue 22's second drift: what
// happened in the room while a seat was held reaches its member as the
// room is now, not as a replay of every coming and going.
func TestSeatsKeptCancel(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(duet("a", "sa"))
	h.step(func(st *Step[string]) { st.Lost("a", ReasonClosed, true) })
	tok := h.token["a"]
	out, _ := h.join(duet("b", "sb"))
	expect(t, out, "b: joined +token +peer=sa")
	if k := h.s.Seat("a").Kept; len(k) != 1 || k[0].Kind != Start || k[0].Session != "sb" {
		t.Fatalf("kept %+v", k)
	}
	expect(t, h.step(func(st *Step[string]) { st.Leave("b", ReasonLeft) }), "b: leaved")
	if k := h.s.Seat("a").Kept; len(k) != 0 {
		t.Fatalf("start then stop kept %+v", k)
	}
	j := duet("a2", "sa")
	j.Token = tok
	out, _ = h.join(j)
	expect(t, out, "a2: joined +token +resumed")
	// Partner lost and back while a is held again: nothing kept.
	h.join(duet("c", "sc"))
	h.step(func(st *Step[string]) { st.Lost("a2", ReasonClosed, true) })
	h.step(func(st *Step[string]) { st.Lost("c", ReasonClosed, true) })
	j = duet("c2", "sc")
	j.Token = h.token["c"]
	h.join(j)
	if k := h.s.Seat("a2").Kept; len(k) != 0 {
		t.Fatalf("reconnecting then reconnected kept %+v", k)
	}
	// A partner that stays: its start is delivered, then its frames.
	h.step(func(st *Step[string]) { st.Leave("c2", ReasonClosed) })
	h.join(duet("d", "sd"))
	_, keep, _ := h.s.Route("d")
	keep.Add([]byte("offer"), false, 64, nil)
	j = duet("a3", "sa")
	j.Token = h.token["a2"]
	out, _ = h.join(j)
	expect(t, out, "a3: joined +token +resumed +peer=sd", "a3: stop closed", "a3: start sd", "a3: frame offer", "d: peerReconnected")
}

func TestSeatsExpireKickEnd(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(duet("a", "sa"))
	h.join(duet("b", "sb"))
	h.step(func(st *Step[string]) { st.Lost("b", ReasonTimeout, true) })
	until := h.s.Seat("b").Held
	if h.step(func(st *Step[string]) { st.Expire("b", until, false) }); !h.s.Has("b") {
		t.Fatal("expired early")
	}
	h.now = until
	expect(t, h.step(func(st *Step[string]) { st.Expire("b", until.Add(-time.Millisecond), false) }))
	expect(t, h.step(func(st *Step[string]) { st.Expire("b", until, false) }), "a: stop timeout")
	if h.notes() != "4:b/timeout 3:b/timeout " {
		t.Fatalf("notes %q", h.notes())
	}
	h.join(Joiner[string]{Member: "c"})
	expect(t, h.step(func(st *Step[string]) { st.Kick("a", ReasonKicked, true) }), "c: stop kicked", "a: stop kicked", "a: leaved kicked")
	h.join(Joiner[string]{Member: "d"})
	expect(t, h.step(func(st *Step[string]) { st.End(ReasonKicked) }), "c: stop kicked", "c: leaved kicked", "d: stop kicked", "d: leaved kicked")
	if !h.s.Empty() {
		t.Fatal("not empty")
	}
}

func TestSeatsProbeSweepOverflow(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(duet("a", "sa"))
	h.join(Joiner[string]{Member: "b"})
	h.step(func(st *Step[string]) { st.Lost("a", ReasonClosed, true) })
	if got := h.s.ProbeTargets(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("probe %v", got)
	}
	if h.step(func(st *Step[string]) { st.Evict("a") }); !h.s.Has("a") {
		t.Fatal("held seat evicted")
	}
	// Overflow: the keep refuses, the hold ends now.
	_, keep, _ := h.s.Route("b")
	if !keep.Add(make([]byte, 60), false, h.r.KeepLimit(), nil) || keep.Add(make([]byte, 5), false, h.r.KeepLimit(), nil) || !keep.Overflowed() {
		t.Fatal("bound")
	}
	expect(t, h.step(func(st *Step[string]) { st.Expire("a", time.Time{}, true) }), "b: stop timeout")
	if h.last.Unkept != 60 {
		t.Fatalf("unkept %d", h.last.Unkept)
	}
	// Sweep: a dead member is held if resumable, removed otherwise.
	h.join(duet("c", "sc"))
	h.now = h.now.Add(time.Second)
	out, res := h.join(Joiner[string]{Member: "d"})
	if res != Full || out != nil {
		t.Fatal(res)
	}
	st := h.s.Begin(&h.r, h.now, "w")
	st.Dead = func(m string) bool { return m == "c" }
	if res := st.Join(Joiner[string]{Member: "d"}); res != Full {
		t.Fatal(res)
	}
	if !h.s.Seat("c").IsHeld() {
		t.Fatal("dead resumable member not held")
	}
	h.s = Seats[string]{}
	h.join(Joiner[string]{Member: "e"})
	h.join(Joiner[string]{Member: "f"})
	st = h.s.Begin(&h.r, h.now, "w")
	st.Dead = func(m string) bool { return m == "e" }
	if res := st.Join(Joiner[string]{Member: "g"}); res != Admitted || h.s.Has("e") {
		t.Fatal(res)
	}
}

func TestSeatsRestartDropsKept(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(duet("a", "sa"))
	h.join(duet("b", "sb"))
	h.step(func(st *Step[string]) { st.Lost("b", ReasonClosed, true) })
	_, keep, _ := h.s.Route("a")
	keep.Add([]byte("offer"), false, 64, nil)
	j := duet("a", "sa")
	j.Restart = true
	out, _ := h.join(j)
	expect(t, out, "a: joined +token +peer=sb")
	if k := h.s.Seat("b").Kept; len(k) != 2 || k[0].Kind != Stop || k[1].Kind != Start || h.last.Unkept != 5 {
		t.Fatalf("kept %+v unkept %d", k, h.last.Unkept)
	}
}

func TestSeatsRestore(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(duet("a", "sa"))
	h.join(duet("b", "sb"))
	r := Restore(h.s.Members(), h.s.Call())
	if !slices.Equal(r.room.Members(), []string{"a", "b"}) || r.Seat("b").Session != "sb" || r.Call() != t0 {
		t.Fatalf("restored %+v", r)
	}
	dup := Restore([]Seat[string]{{Member: "a"}, {Member: "a"}, {Member: "b"}, {Member: "c"}}, t0)
	if dup.Len() != 2 || !dup.Has("b") {
		t.Fatalf("restored %+v", dup)
	}
}

func TestTokens(t *testing.T) {
	if a, b := NewToken(), NewToken(); a == b || len(a) != 32 {
		t.Fatalf("%q %q", a, b)
	}
	h := newHarness(t, time.Second)
	h.join(duet("a", "sa"))
	if st := h.s.Seat("a"); st.Token != TokenHash("tok1") || h.s.byToken("tok1") != st || h.s.byToken(strings.Repeat("x", 200)) != nil {
		t.Fatal("token")
	}
}
