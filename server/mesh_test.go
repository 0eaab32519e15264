package server_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

func meshConfig(c *config.Config) { c.MaxPeers = []string{"group*=4", "big=8"} }

// meshJoin joins room as a mesh client asking for max members.
func meshJoin(c *client, room string, max int, extra ...string) {
	m := msg{"command": "join", "streamId": room, "maxPeers": max}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	c.Send(m)
}

func peerIDs(t *testing.T, m msg) []string {
	t.Helper()
	ps, ok := m["peers"].([]any)
	if !ok {
		t.Fatalf("joined without peers: %v", m)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	return ids
}

func expectPeer(t *testing.T, c *client, command, definition, peer string) msg {
	t.Helper()
	m := c.Expect(command, definition)
	if m.Str("peer") != peer {
		t.Fatalf("%s from/about peer %q, want %q: %v", command, m.Str("peer"), peer, m)
	}
	return m
}

// TestMeshRoom walks a mesh room: ids, who offers to whom, addressed
// relays, the limit, an Ant Media SDK refused, a departure.
func TestMeshRoom(t *testing.T) {
	s := start(t, meshConfig)
	url := s.URL("group1")
	a, b, c, d := wstest.Dial(t, url), wstest.Dial(t, url), wstest.Dial(t, url), wstest.Dial(t, url)

	meshJoin(a, "m", 4, "session", "sa")
	ja := a.Expect("notification", "joined")
	if ja.Str("peerId") != "1" || ja["maxPeers"] != float64(4) || len(peerIDs(t, ja)) != 0 {
		t.Fatalf("first joined = %v", ja)
	}
	// A later joiner's maxPeers does not change the room's.
	meshJoin(b, "m", 3)
	jb := b.Expect("notification", "joined")
	if jb.Str("peerId") != "2" || jb["maxPeers"] != float64(4) || len(peerIDs(t, jb)) != 1 {
		t.Fatalf("second joined = %v", jb)
	}
	expectPeer(t, a, "start", "", "2")
	meshJoin(c, "m", 4, "session", "sc")
	jc := c.Expect("notification", "joined")
	if ids := peerIDs(t, jc); jc.Str("peerId") != "3" || len(ids) != 2 || ids[0] != "1" || ids[1] != "2" {
		t.Fatalf("third joined = %v", jc)
	}
	if p := jc["peers"].([]any)[0].(map[string]any); p["session"] != "sa" {
		t.Fatalf("first member's session not given to a joiner with one: %v", jc)
	}
	if st := expectPeer(t, a, "start", "", "3"); st.Str("peerSession") != "sc" {
		t.Fatalf("start to a = %v", st)
	}
	if st := expectPeer(t, b, "start", "", "3"); st.Str("peerSession") != "" {
		t.Fatalf("a session to a member that sent none: %v", st)
	}

	// Relays go to the member named, naming their sender.
	a.Send(msg{"command": "takeConfiguration", "streamId": "m", "type": "offer", "sdp": "v=0\r\nfrom-a\r\n", "peer": "3"})
	off := expectPeer(t, c, "takeConfiguration", "", "1")
	if off.Str("sdp") != "v=0\r\nfrom-a\r\n" || off["idMapping"] == nil {
		t.Fatalf("offer = %v", off)
	}
	c.Send(msg{"command": "takeConfiguration", "streamId": "m", "type": "answer", "sdp": "v=0\r\nans\r\n", "peer": "1"})
	expectPeer(t, a, "takeConfiguration", "", "3")
	b.Send(msg{"command": "takeCandidate", "streamId": "m", "label": 0, "id": "0", "candidate": "candidate:1", "peer": "3"})
	expectPeer(t, c, "takeCandidate", "", "2")
	c.Send(msg{"command": "peerMessageCommand", "streamId": "m", "definition": "chat", "data": "hi", "peer": "2"})
	if pm := expectPeer(t, b, "peerMessageCommand", "", "3"); pm.Str("data") != "hi" {
		t.Fatalf("peer message = %v", pm)
	}
	// A relay that names nobody, oneself or a stranger goes nowhere.
	for _, peer := range []any{nil, "1", "9"} {
		m := msg{"command": "takeCandidate", "streamId": "m", "label": 0, "id": "0", "candidate": "candidate:x"}
		if peer != nil {
			m["peer"] = peer
		}
		a.Send(m)
		a.Expect("error", "no_peer_associated_before")
	}

	meshJoin(d, "m", 4)
	d.Expect("notification", "joined")
	for _, x := range []*client{a, b, c} {
		expectPeer(t, x, "start", "", "4")
	}
	b.Send(msg{"command": "leave", "streamId": "m"})
	b.Expect("notification", "leaved")
	for _, x := range []*client{a, c, d} {
		if m := expectPeer(t, x, "stop", "", "2"); m.Str("reason") != "left" {
			t.Fatalf("stop = %v", m)
		}
	}
	// A socket that closes is a departure too.
	d.WS.Close()
	for _, x := range []*client{a, c} {
		if m := expectPeer(t, x, "stop", "", "4"); m.Str("reason") != "closed" {
			t.Fatalf("stop = %v", m)
		}
	}
	// Now there is room: the newcomer gets a fresh id.
	e := wstest.Dial(t, url)
	meshJoin(e, "m", 4)
	if je := e.Expect("notification", "joined"); je.Str("peerId") != "5" {
		t.Fatalf("joined = %v", je)
	}
	expectPeer(t, a, "start", "", "5")
	expectPeer(t, c, "start", "", "5")
	f := wstest.Dial(t, url)
	meshJoin(f, "m", 4)
	f.Expect("notification", "joined")
	for _, x := range []*client{a, c, e} {
		expectPeer(t, x, "start", "", "6")
		x.Quiet()
	}
	if n := meshMembers(t, s); n != 4 {
		t.Errorf("metrics count %d mesh members, want 4", n)
	}
	// Full: every member answers the probe.
	for _, x := range []*client{a, c, e, f} {
		x.KeepReading()
	}
	g := wstest.Dial(t, url)
	meshJoin(g, "m", 4)
	g.Expect("error", "NoSpaceForNewPeer")
	// An Ant Media SDK gets the documented error, full room or not.
	am := wstest.Dial(t, url)
	wstest.Join(am, "m")
	if m := am.Expect("error", "meshClientRequired"); m.Str("streamId") != "m" {
		t.Fatalf("error without streamId: %v", m)
	}
}

// TestMeshOptIn: a room of two unless both the app and the first joiner
// want more, and then exactly today's messages.
func TestMeshOptIn(t *testing.T) {
	s := start(t, meshConfig)
	// An app without max_peers: a mesh client learns it is in a room of two.
	a, b := wstest.Dial(t, s.URL("other")), wstest.Dial(t, s.URL("other"))
	meshJoin(a, "r", 4)
	if m := a.Expect("notification", "joined"); m["maxPeers"] != float64(2) || m["peerId"] != nil || m["peers"] != nil {
		t.Fatalf("joined = %v", m)
	}
	wstest.Join(b, "r")
	if m := b.Expect("notification", "joined"); len(m) != 3 {
		t.Fatalf("an Ant Media SDK's joined changed: %v", m)
	}
	if m := a.Expect("start", ""); len(m) != 2 {
		t.Fatalf("start = %v", m)
	}
	a.Send(msg{"command": "takeConfiguration", "streamId": "r", "type": "offer", "sdp": "v=0\r\n", "peer": "7"})
	if m := b.Expect("takeConfiguration", ""); m["peer"] != nil {
		t.Fatalf("peer in a room of two: %v", m)
	}
	// A mesh app whose room's first joiner is an Ant Media SDK: a room of two.
	c, d, e := wstest.Dial(t, s.URL("group2")), wstest.Dial(t, s.URL("group2")), wstest.Dial(t, s.URL("group2"))
	wstest.Join(c, "r")
	c.Expect("notification", "joined")
	meshJoin(d, "r", 4)
	if m := d.Expect("notification", "joined"); m["maxPeers"] != float64(2) {
		t.Fatalf("joined = %v", m)
	}
	c.Expect("start", "")
	c.KeepReading()
	d.KeepReading()
	meshJoin(e, "r", 4)
	e.Expect("error", "NoSpaceForNewPeer")
	// The app's limit caps the first joiner's.
	f := wstest.Dial(t, s.URL("group3"))
	meshJoin(f, "r", 16)
	if m := f.Expect("notification", "joined"); m["maxPeers"] != float64(4) {
		t.Fatalf("joined = %v", m)
	}
}

// TestMeshResume: one member's seat is held on its own; what is relayed
// to it meanwhile, and who came and went, reach it on its return, in
// order.
func TestMeshResume(t *testing.T) {
	s := start(t, meshConfig)
	url := s.URL("big")
	a, b, c, d := wstest.Dial(t, url), wstest.Dial(t, url), wstest.Dial(t, url), wstest.Dial(t, url)
	join := func(x *client, session string, more ...any) msg {
		m := msg{"command": "join", "streamId": "m", "maxPeers": 8, "session": session, "resumable": true}
		for i := 0; i+1 < len(more); i += 2 {
			m[more[i].(string)] = more[i+1]
		}
		x.Send(m)
		return x.Expect("notification", "joined")
	}
	join(a, "sa")
	join(b, "sb")
	expectPeer(t, a, "start", "", "2")
	tok := join(c, "sc").Str("resumeToken")
	expectPeer(t, a, "start", "", "3")
	expectPeer(t, b, "start", "", "3")
	if tok == "" {
		t.Fatal("no resume token")
	}
	c.WS.Close()
	for _, x := range []*client{a, b} {
		expectPeer(t, x, "notification", "peerReconnecting", "3")
	}
	a.Send(msg{"command": "takeConfiguration", "streamId": "m", "type": "offer", "sdp": "v=0\r\nkept\r\n", "peer": "3"})
	a.Quiet() // the relay was taken
	jd := join(d, "sd")
	if p := jd["peers"].([]any)[2].(map[string]any); p["id"] != "3" || p["reconnecting"] != true {
		t.Fatalf("joined = %v", jd)
	}
	expectPeer(t, a, "start", "", "4")
	expectPeer(t, b, "start", "", "4")
	b.Send(msg{"command": "leave", "streamId": "m"})
	b.Expect("notification", "leaved")
	expectPeer(t, a, "stop", "", "2")
	expectPeer(t, d, "stop", "", "2")

	c2 := wstest.Dial(t, url)
	jc := join(c2, "sc", "resumeToken", tok)
	if ids := peerIDs(t, jc); jc["resumed"] != true || jc.Str("peerId") != "3" || len(ids) != 2 || ids[0] != "1" || ids[1] != "4" {
		t.Fatalf("resumed joined = %v", jc)
	}
	if m := expectPeer(t, c2, "takeConfiguration", "", "1"); m.Str("sdp") != "v=0\r\nkept\r\n" {
		t.Fatalf("kept offer = %v", m)
	}
	if m := expectPeer(t, c2, "start", "", "4"); m.Str("peerSession") != "sd" {
		t.Fatalf("kept start = %v", m)
	}
	if m := expectPeer(t, c2, "stop", "", "2"); m.Str("reason") != "left" {
		t.Fatalf("kept stop = %v", m)
	}
	expectPeer(t, a, "notification", "peerReconnected", "3")
	expectPeer(t, d, "notification", "peerReconnected", "3")
	// The resumed member relays and is relayed to as before.
	c2.Send(msg{"command": "takeConfiguration", "streamId": "m", "type": "answer", "sdp": "v=0\r\n", "peer": "1"})
	expectPeer(t, a, "takeConfiguration", "", "3")
	for _, x := range []*client{a, c2, d} {
		x.Quiet()
	}
}

// meshMembers sums duet_mesh_members over the nodes: each counts its own.
func meshMembers(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	for _, s := range e.nodes {
		_, body := wstest.HTTPGet(t, s.HTTP()+"/metrics")
		_, after, ok := strings.Cut(body, "\nduet_mesh_members ")
		v, _, _ := strings.Cut(after, "\n")
		m, err := strconv.Atoi(v)
		if !ok || err != nil {
			t.Fatalf("no duet_mesh_members on %s", s.HTTP())
		}
		n += m
	}
	return n
}
