package room

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// meshDetail prints a message's mesh fields: " @peer", and for a joined
// " max=N" and " peers=id[:session][*held],...".
func meshDetail(m Msg[string]) string {
	var b strings.Builder
	if m.Peer != "" {
		b.WriteString(" @" + m.Peer)
	}
	if m.Kind == Joined && m.Max != 0 {
		fmt.Fprintf(&b, " max=%d", m.Max)
	}
	if len(m.Peers) > 0 {
		b.WriteString(" peers=")
		for i, p := range m.Peers {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.ID)
			if p.Session != "" {
				b.WriteString(":" + p.Session)
			}
			if p.Held {
				b.WriteByte('*')
			}
		}
	}
	return b.String()
}

func meshJoiner(m string, max int) Joiner[string] {
	return Joiner[string]{Member: m, Session: "s" + m, Resumable: true, Mesh: true, Max: max}
}

func TestMeshJoinOrderAndLimit(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	out, res := h.join(meshJoiner("a", 3))
	expect(t, out, "a: joined +token @1 max=3")
	if res != Admitted || !h.s.Mesh() || h.s.Max() != 3 {
		t.Fatal(res, h.s.Max())
	}
	// A later joiner's limit does not change the room's.
	out, _ = h.join(meshJoiner("b", 8))
	expect(t, out, "b: joined +token @2 max=3 peers=1:sa", "a: start sb @2")
	if h.notes() != "1:b 2:b " || h.s.Call() != t0 {
		t.Fatalf("notes %q", h.notes())
	}
	// Every member already there offers to the newcomer; the newcomer
	// learns them all, and only members that sent a session learn one.
	out, _ = h.join(Joiner[string]{Member: "c", Mesh: true})
	expect(t, out, "c: joined @3 max=3 peers=1,2", "a: start @3", "b: start @3")
	if out, res := h.join(meshJoiner("d", 3)); res != Full || out != nil {
		t.Fatalf("%v %q", res, out)
	}
	// A client that does not speak mesh is refused whatever the room's
	// occupancy.
	if out, res := h.join(Joiner[string]{Member: "x"}); res != MeshOnly || out != nil {
		t.Fatalf("%v %q", res, out)
	}
	expect(t, h.step(func(st *Step[string]) { st.Leave("b", ReasonLeft) }), "b: leaved", "a: stop left @2", "c: stop left @2")
	if h.notes() != "4:b/left " {
		t.Fatalf("notes %q", h.notes())
	}
	// Ids are not reused.
	out, _ = h.join(meshJoiner("d", 3))
	expect(t, out, "d: joined +token @4 max=3 peers=1:sa,3", "a: start sd @4", "c: start @4")
	h.step(func(st *Step[string]) { st.Leave("a", ReasonLeft); st.Leave("c", ReasonClosed) })
	if h.notes() != "4:a/left 4:c/closed 3:c/closed " || !h.s.Call().IsZero() {
		t.Fatalf("notes %q", h.notes())
	}
	h.step(func(st *Step[string]) { st.Leave("d", ReasonLeft) })
	if !h.s.Empty() || h.s.Mesh() {
		t.Fatal("an empty mesh room stays a mesh")
	}
}

func TestMeshOnlyWhenTheFirstJoinerAsks(t *testing.T) {
	h := newHarness(t, 0)
	// An Ant Media SDK first: a room of two for everyone.
	out, _ := h.join(Joiner[string]{Member: "a"})
	expect(t, out, "a: joined")
	out, _ = h.join(meshJoiner("b", 4))
	expect(t, out, "b: joined max=2", "a: start")
	if out, res := h.join(meshJoiner("c", 4)); res != Full || out != nil {
		t.Fatalf("%v %q", res, out)
	}
	// A limit of 2 is a room of two too.
	h.s = Seats[string]{}
	out, _ = h.join(meshJoiner("a", 2))
	expect(t, out, "a: joined max=2")
	if h.s.Mesh() {
		t.Fatal("a mesh of two")
	}
	// A repeated join of a room member does not make it a mesh.
	h.s = Seats[string]{}
	h.join(Joiner[string]{Member: "a"})
	if _, res := h.join(Joiner[string]{Member: "x", Mesh: true, Max: 5, Again: true}); res != Removed || h.s.Mesh() {
		t.Fatal(res)
	}
}

func TestMeshHoldKeepResume(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(meshJoiner("a", 6))
	h.join(meshJoiner("b", 6))
	h.join(meshJoiner("c", 6))
	expect(t, h.step(func(st *Step[string]) {
		if !st.Lost("c", ReasonClosed, true) {
			t.Fatal("not held")
		}
	}), "a: peerReconnecting @3", "b: peerReconnecting @3")
	c := h.s.Seat("c")
	to, from, ok := h.s.RouteTo("a", "3")
	if !ok || to != c || from != "1" {
		t.Fatal(to, from, ok)
	}
	if _, _, ok := h.s.RouteTo("a", "1"); ok {
		t.Fatal("routed to oneself")
	}
	if _, _, ok := h.s.RouteTo("x", "1"); ok {
		t.Fatal("routed from a non-member")
	}
	if !h.s.KeepFor(to, from, []byte("f1"), 1024, nil) {
		t.Fatal("not kept")
	}
	to, from, _ = h.s.RouteTo("b", "3")
	h.s.KeepFor(to, from, []byte("f2"), 1024, nil)
	// d comes and goes while c is away: no trace; b leaves: c gets its
	// stop, and b's frame before it goes with b.
	out, _ := h.join(meshJoiner("d", 6))
	expect(t, out, "d: joined +token @4 max=6 peers=1:sa,2:sb,3:sc*", "a: start sd @4", "b: start sd @4")
	h.step(func(st *Step[string]) { st.Leave("d", ReasonLeft) })
	h.step(func(st *Step[string]) { st.Leave("b", ReasonLeft) })
	if h.last.Unkept != 2 {
		t.Fatalf("unkept %d", h.last.Unkept)
	}
	// A frame that does not fit is refused.
	to, from, _ = h.s.RouteTo("a", "3")
	if h.s.KeepFor(to, from, make([]byte, 1024), 1024, nil) {
		t.Fatal("kept past the bound")
	}
	out, res := h.join(Joiner[string]{Member: "c2", Session: "sc", Resumable: true, Mesh: true, Token: h.token["c"]})
	expect(t, out, "c2: joined +token +resumed @3 max=6 peers=1:sa", "c2: frame f1", "c2: stop left @2", "a: peerReconnected @3")
	if res != Resumed || h.last.Unkept != 2 || h.s.Seat("c2").Peer != "3" {
		t.Fatal(res, h.last.Unkept)
	}
	// The token before the last one still takes the seat back (the
	// resumed joined may have died with its socket).
	old := h.token["c2"]
	h.step(func(st *Step[string]) { st.Lost("c2", ReasonClosed, true) })
	if _, res := h.join(Joiner[string]{Member: "c3", Session: "sc", Resumable: true, Mesh: true, Token: old}); res != Resumed {
		t.Fatal(res)
	}
	h.step(func(st *Step[string]) { st.Lost("c3", ReasonClosed, true) })
	if _, res := h.join(Joiner[string]{Member: "c4", Session: "sc", Resumable: true, Mesh: true, Token: old}); res != Resumed {
		t.Fatal("the previous token no longer works", res)
	}
	if _, res := h.join(Joiner[string]{Member: "c5", Session: "sc", Resumable: true, Mesh: true, Token: h.token["c"]}); res == Resumed {
		t.Fatal("an older token works")
	}
	// A hold that runs out is a departure.
	h.step(func(st *Step[string]) { st.Lost("a", ReasonTimeout, true) })
	h.now = h.now.Add(11 * time.Second)
	expect(t, h.step(func(st *Step[string]) { st.Expire("a", time.Time{}, false) }), "c4: stop timeout @1", "c5: stop timeout @1")
}

func TestMeshHeldMembersKeepRoomMessages(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(meshJoiner("a", 4))
	h.join(meshJoiner("b", 4))
	h.join(meshJoiner("c", 4))
	h.step(func(st *Step[string]) { st.Lost("a", ReasonClosed, true) })
	// b's hold and return cancel out for a; c joined the room and stays.
	h.step(func(st *Step[string]) { st.Lost("b", ReasonClosed, true) })
	out, _ := h.join(Joiner[string]{Member: "b2", Session: "sb", Resumable: true, Mesh: true, Token: h.token["b"]})
	expect(t, out, "b2: joined +token +resumed @2 max=4 peers=1:sa*,3:sc", "c: peerReconnected @2")
	out, _ = h.join(meshJoiner("d", 4))
	expect(t, out, "d: joined +token @4 max=4 peers=1:sa*,2:sb,3:sc", "b2: start sd @4", "c: start sd @4")
	out, _ = h.join(Joiner[string]{Member: "a2", Session: "sa", Resumable: true, Mesh: true, Token: h.token["a"]})
	expect(t, out, "a2: joined +token +resumed @1 max=4 peers=2:sb,3:sc,4:sd", "a2: start sd @4",
		"b2: peerReconnected @1", "c: peerReconnected @1", "d: peerReconnected @1")
}

func TestMeshRestartKickEnd(t *testing.T) {
	h := newHarness(t, 10*time.Second)
	h.join(meshJoiner("a", 4))
	h.join(meshJoiner("b", 4))
	h.join(meshJoiner("c", 4))
	// A repeated join with restart: b becomes the newest; everyone offers to it again.
	j := meshJoiner("b", 4)
	j.Restart = true
	out, res := h.join(j)
	expect(t, out, "a: stop restart @2", "c: stop restart @2", "b: joined +token @2 max=4 peers=1:sa,3:sc",
		"a: start sb @2", "c: start sb @2")
	if res != Restarted || h.notes() != "3:b/restart 2:b " {
		t.Fatal(res, h.notes())
	}
	if ms := h.s.Members(); ms[0].Member != "a" || ms[1].Member != "c" || ms[2].Member != "b" {
		t.Fatal(ms)
	}
	// A restart that names a member starts over only the call with it.
	j.RestartPeer = "1"
	out, _ = h.join(j)
	expect(t, out, "a: stop restart @2", "b: joined +token @2 max=4 peers=1:sa,3:sc", "a: start sb @2")
	// Without restart it is joined again, nothing else.
	out, _ = h.join(meshJoiner("c", 4))
	expect(t, out, "c: joined +token @3 max=4 peers=1:sa,2:sb")
	expect(t, h.step(func(st *Step[string]) { st.Kick("c", ReasonKicked, true) }),
		"a: stop kicked @3", "b: stop kicked @3", "c: stop kicked", "c: leaved kicked")
	h.join(meshJoiner("d", 4))
	expect(t, h.step(func(st *Step[string]) { st.End(ReasonKicked) }),
		"a: stop kicked", "a: leaved kicked", "b: stop kicked", "b: leaved kicked", "d: stop kicked", "d: leaved kicked")
	if !h.s.Empty() {
		t.Fatal("not empty")
	}
}
