package cluster

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster/link"
	"github.com/duet-rtc/duet/cluster/live"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

func TestWireRoundTrip(t *testing.T) {
	k := hub.Key{App: "WebRTCAppEE", Stream: "a.b-c"}
	frame := []byte(`{"command":"takeCandidate"}`)
	msg := frameBody(link.Header(nil, msgFrame, "n1~0a", 3, 99), 7, "n1~0a/3", k, hub.Lend(frame))
	typ, inc, epoch, seq, body, err := link.Decode(msg)
	if err != nil || typ != msgFrame || string(inc) != "n1~0a" || epoch != 3 || seq != 99 {
		t.Fatalf("link header: %v %d %q %d %d", err, typ, inc, epoch, seq)
	}
	to, from, gk, gf, err := decodeFrame(body)
	if err != nil || to != 7 || from != "n1~0a/3" || gk != k || !bytes.Equal(gf, frame) {
		t.Fatalf("frame: %v %d %q %v %q", err, to, from, gk, gf)
	}
	ev := event{prev: 10, rev: 12, partner: "n2/9", reason: hub.ReasonNodeFailure, kinds: []room.Kind{room.Stop, room.Start}}
	to, gk, gev, err := decodeEvent(eventBody(nil, 300, k, ev))
	if err != nil || to != 300 || gk != k || gev.prev != 10 || gev.rev != 12 || gev.partner != "n2/9" || gev.reason != hub.ReasonNodeFailure || !slices.Equal(gev.kinds, ev.kinds) {
		t.Fatalf("event: %v %d %v %+v", err, to, gk, gev)
	}
	to, reason, err := decodeCtl(ctlMsg(msgKill, 5, "why"))
	if err != nil || to != 5 || reason != "why" {
		t.Fatalf("ctl: %v %d %q", err, to, reason)
	}
	for _, bad := range [][]byte{{}, {1, 200}, {1, 2, 0}} {
		if _, _, _, _, err := decodeFrame(bad); err == nil {
			t.Errorf("decodeFrame(%v) accepted", bad)
		}
	}
	if _, _, _, err := decodeEvent([]byte{1, 0, 0, 1, 1, 0, 0, 9}); err == nil {
		t.Error("decodeEvent accepted an unknown kind")
	}
	if _, _, _, _, _, err := link.Decode([]byte{msgFrame, 200}); err == nil {
		t.Error("link.Decode accepted a truncated header")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(frameBody(link.Header(nil, msgFrame, "a~1", 1, 1), 1, "a~1/1", hub.Key{App: "x", Stream: "y"}, hub.Lend([]byte("{}"))))
	f.Add(eventBody(link.Header(nil, msgEvent, "a~1", 1, 2), 1, hub.Key{App: "x", Stream: "y"}, event{rev: 2, kinds: []room.Kind{room.Start}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		if _, _, _, _, body, err := link.Decode(b); err == nil {
			decodeFrame(body)
			decodeEvent(body)
			decodeMeshEvent(body)
		}
		decodeCtl(b)
	})
}

func TestMembersAndKeys(t *testing.T) {
	if k := roomKey(hub.Key{App: "live", Stream: ".a..b."}); k != "live.=a==b=" {
		t.Fatalf("key = %q", k)
	}
	r := room.Restore([]room.Seat[string]{{Member: "n1~0a/1"}, {Member: "n2~0b/5"}}, time.Time{})
	v := encodeRoom(&r)
	if string(v) != `{"v":1,"members":[{"id":"n1~0a/1"},{"id":"n2~0b/5"}]}` {
		t.Fatalf("value = %s", v)
	}
	back := decodeRoom(v)
	if !slices.Equal(ids(&r), ids(&back)) {
		t.Fatalf("room %v decoded as %v", ids(&r), ids(&back))
	}
	// The value of earlier versions: ids separated by a space.
	old := decodeRoom([]byte("n1/1 n2/5"))
	if !slices.Equal(ids(&old), []string{"n1/1", "n2/5"}) {
		t.Fatalf("old value decoded as %v", ids(&old))
	}
	if bad := decodeRoom([]byte(`{"v":1,"members":[{"id":"x"}`)); !bad.Empty() {
		t.Fatalf("unreadable value decoded as %v", ids(&bad))
	}
	if inc, num, ok := splitMember("n2~0b/5"); !ok || inc != "n2~0b" || num != 5 {
		t.Fatalf("split = %q %d %v", inc, num, ok)
	}
	if node, epoch := live.Split("n2~0b"); node != "n2" || epoch != "0b" {
		t.Fatalf("incarnation split = %q %q", node, epoch)
	}
	if _, _, ok := splitMember("garbage"); ok {
		t.Fatal("malformed member id accepted")
	}
	e1, e2 := live.NewEpoch(time.Unix(1000, 0)), live.NewEpoch(time.Unix(1001, 0))
	if !live.Newer(e2, e1) || live.Newer(e1, e2) || !live.Newer(e1, "") {
		t.Fatalf("epochs %q %q do not order by start time", e1, e2)
	}
}

func ids(s *seats) []string {
	var out []string
	for _, st := range s.Members() {
		out = append(out, st.Member)
	}
	return out
}
