package cluster

import (
	"reflect"
	"testing"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// TestMeshValue: a mesh room survives the bucket: its limit, its ids (the
// next one included), tokens, and what is kept for a held seat, frames
// too, in order.
func TestMeshValue(t *testing.T) {
	r := room.Rules{Grace: time.Minute}
	var s seats
	now := time.UnixMilli(1_000_000)
	st := s.Begin(&r, now, "n1~0a")
	for _, id := range []string{"n1~0a/1", "n2~0b/2", "n3~0c/3"} {
		if res := st.Join(room.Joiner[string]{Member: id, Session: "s" + id, Resumable: true, Mesh: true, Max: 6}); res != room.Admitted {
			t.Fatalf("join %s: %v", id, res)
		}
	}
	st = s.Begin(&r, now, "n1~0a")
	st.Leave("n2~0b/2", room.ReasonLeft) // id 2 is never given again
	st.Hold("n3~0c/3", now.Add(time.Minute))
	to, from, ok := s.RouteTo("n1~0a/1", "3")
	if !ok || !s.KeepFor(to, from, []byte(`{"command":"takeCandidate","peer":"1"}`), 4096, nil) {
		t.Fatal("frame not kept")
	}
	back := decodeRoom(encodeRoom(&s))
	if !back.Mesh() || back.Max() != 6 || back.MeshState() != s.MeshState() {
		t.Fatalf("mesh state %v decoded as %v", s.MeshState(), back.MeshState())
	}
	if !reflect.DeepEqual(back.Members(), s.Members()) {
		t.Fatalf("members\n%+v\ndecoded as\n%+v", s.Members(), back.Members())
	}
	st = back.Begin(&r, now, "n1~0a")
	st.Join(room.Joiner[string]{Member: "n1~0a/9", Mesh: true, Max: 6})
	if p := back.Seat("n1~0a/9").Peer; p != "4" {
		t.Fatalf("next member's id = %q, want 4", p)
	}
}

func TestMeshEventWire(t *testing.T) {
	k := hub.Key{App: "group", Stream: "m"}
	ev := event{prev: 7, rev: 9, mesh: true, flags: evResumed,
		peers:  []meshPeer{{id: "1", member: "n1~0a/1"}, {id: "3", member: "n3~0c/3", held: true}},
		frames: [][]byte{[]byte(`{"command":"start","peer":"3"}`), []byte(`{"command":"stop"}`)}}
	to, k2, back, err := decodeMeshEvent(meshEventBody(nil, 42, k, ev))
	if err != nil || to != 42 || k2 != k || !reflect.DeepEqual(back, ev) {
		t.Fatalf("decoded %d %v %+v %v, want %+v", to, k2, back, err, ev)
	}
	b := meshEventBody(nil, 42, k, ev)
	for i := range b {
		if _, _, _, err := decodeMeshEvent(b[:i]); err == nil {
			t.Fatalf("a truncated event (%d of %d bytes) decoded", i, len(b))
		}
	}
}
