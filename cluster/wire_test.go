package cluster

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

func TestWireRoundTrip(t *testing.T) {
	k := hub.Key{App: "WebRTCAppEE", Stream: "a.b-c"}
	frame := []byte(`{"command":"takeCandidate"}`)
	to, from, gk, gf, err := decodeFrame(frameMsg(7, "n1/3", k, frame))
	if err != nil || to != 7 || from != "n1/3" || gk != k || !bytes.Equal(gf, frame) {
		t.Fatalf("frame: %v %d %q %v %q", err, to, from, gk, gf)
	}
	ev := event{prev: 10, rev: 12, partner: "n2/9", reason: hub.ReasonKicked, kinds: []room.Kind{room.Stop, room.Start}}
	to, gk, gev, err := decodeEvent(eventMsg(300, k, ev))
	if err != nil || to != 300 || gk != k || gev.prev != 10 || gev.rev != 12 || gev.partner != "n2/9" || gev.reason != hub.ReasonKicked || !slices.Equal(gev.kinds, ev.kinds) {
		t.Fatalf("event: %v %d %v %+v", err, to, gk, gev)
	}
	to, reason, err := decodeCtl(ctlMsg(msgKill, 5, "why"))
	if err != nil || to != 5 || reason != "why" {
		t.Fatalf("ctl: %v %d %q", err, to, reason)
	}
	for _, bad := range [][]byte{{msgFrame}, {msgFrame, 1, 200}, {msgEvent, 1, 0, 0, 1, 1, 0, 9}} {
		if _, _, _, _, err := decodeFrame(bad); bad[0] == msgFrame && err == nil {
			t.Errorf("decodeFrame(%v) accepted", bad)
		}
		if _, _, _, err := decodeEvent(bad); bad[0] == msgEvent && err == nil {
			t.Errorf("decodeEvent(%v) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(frameMsg(1, "a/1", hub.Key{App: "x", Stream: "y"}, []byte("{}")))
	f.Add(eventMsg(1, hub.Key{App: "x", Stream: "y"}, event{rev: 2, kinds: []room.Kind{room.Start}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		decodeFrame(b)
		decodeEvent(b)
		decodeCtl(b)
	})
}

func TestMembersAndKeys(t *testing.T) {
	if k := roomKey(hub.Key{App: "live", Stream: ".a..b."}); k != "live.=a==b=" {
		t.Fatalf("key = %q", k)
	}
	var r room.Room[string]
	r.Join("n1/1")
	r.Join("n2/5")
	back := decodeRoom(encodeMembers(&r))
	if !sameMembers(&r, &back) {
		t.Fatalf("room %v decoded as %v", r.Members(), back.Members())
	}
	if node, num, ok := splitMember("n2/5"); !ok || node != "n2" || num != 5 {
		t.Fatalf("split = %q %d %v", node, num, ok)
	}
	if _, _, ok := splitMember("garbage"); ok {
		t.Fatal("malformed member id accepted")
	}
}

func TestLiveness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLiveness("me", 2*time.Second, t0)
	if !l.alive("stranger", t0.Add(time.Second)) {
		t.Fatal("a node never heard from is dead during the grace period")
	}
	l.heard("a", t0.Add(time.Second))
	if died, sweep := l.check(t0.Add(2 * time.Second)); len(died) != 0 || !sweep {
		t.Fatalf("at grace end: died %v sweep %v, want none and a sweep", died, sweep)
	}
	if l.alive("stranger", t0.Add(3*time.Second)) || !l.alive("a", t0.Add(2*time.Second)) {
		t.Fatal("after grace, unknown nodes are dead and heard ones alive")
	}
	died, _ := l.check(t0.Add(3 * time.Second))
	if !slices.Equal(died, []string{"a"}) || l.alive("a", t0.Add(3*time.Second)) {
		t.Fatalf("died = %v", died)
	}
	if !l.heard("a", t0.Add(4*time.Second)) || !l.alive("a", t0.Add(4*time.Second)) {
		t.Fatal("a node heard again is alive")
	}
	l.reset(t0.Add(10 * time.Second)) // after an outage nobody is condemned for it
	if died, _ := l.check(t0.Add(11 * time.Second)); len(died) != 0 {
		t.Fatalf("died after reset: %v", died)
	}
	if !l.alive("me", t0.Add(time.Hour)) {
		t.Fatal("self is always alive")
	}
}
