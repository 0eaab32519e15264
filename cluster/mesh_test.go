package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// meshMember is one member of a test mesh room: its socket, its id and its
// resume token.
type meshMember struct {
	name string
	c    *client
	id   string
	tok  string
}

// meshJoin joins room as a resumable mesh client and returns its joined.
func meshJoin(c *client, room, session, token string) msg {
	c.T.Helper()
	m := msg{"command": "join", "streamId": room, "maxPeers": 8, "session": session, "resumable": true}
	if token != "" {
		m["resumeToken"] = token
	}
	c.Send(m)
	return c.Expect("notification", "joined")
}

// expectAbout reads c's next message, within d, and checks that it is
// command/definition about (or from) member peer.
func expectAbout(t *testing.T, c *client, d time.Duration, command, definition, peer string) msg {
	t.Helper()
	m, err := c.TryRead(d)
	if err != nil {
		t.Fatalf("waiting for %s %s about %s: %v", command, definition, peer, err)
	}
	if m.Str("command") != command || definition != "" && m.Str("definition") != definition || m.Str("peer") != peer {
		t.Fatalf("got %v, want %s %s about peer %s", m, command, definition, peer)
	}
	return m
}

// exchange has every member send every other a peer message, and checks
// that each arrives, naming its sender: every pair's signaling works.
func exchange(t *testing.T, ms []*meshMember, room, tag string) {
	t.Helper()
	for _, from := range ms {
		for _, to := range ms {
			if from != to {
				from.c.Send(msg{"command": "peerMessageCommand", "streamId": room, "definition": "chat",
					"data": tag + " " + from.name + ">" + to.name, "peer": to.id})
			}
		}
	}
	for _, to := range ms {
		got := map[string]bool{}
		for range len(ms) - 1 {
			m := to.c.Expect("peerMessageCommand", "")
			got[m.Str("peer")+" "+m.Str("data")] = true
		}
		for _, from := range ms {
			if from != to && !got[from.id+" "+tag+" "+from.name+">"+to.name] {
				t.Fatalf("%s: %s did not get %s's message: %v", tag, to.name, from.name, got)
			}
		}
	}
}

// TestMeshNodeKilled: six members of a mesh room, two on each of three
// nodes; every pair's signaling crosses nodes. One node dies (its NATS
// connection cut, no goodbye). One of its members comes back on another
// node at once ("quick": before the death is noticed), the other after
// the survivors swept the dead node ("swept": the others heard
// peerReconnecting, and what one relayed to it meanwhile reaches it on its
// return). The members on the surviving nodes keep every pair: nobody
// hears stop, and every pair signals afterwards.
func TestMeshNodeKilled(t *testing.T) {
	ns := startNATS(t)
	n := make([]*node, 3)
	for i := range n {
		n[i] = startNodeWith(t, ns.URL(), fmt.Sprintf("n%d", i+1), func(o *cluster.Options) { o.ReconnectGrace = 30 * time.Second },
			func(c *config.Config) { c.MaxPeers = []string{"group=8"} })
	}
	on := func(i int) *client { return wstest.Dial(t, n[i].URL("group")) }
	const room = "m"
	var ms []*meshMember
	for i, name := range []string{"a", "c", "e", "b", "d", "f"} {
		x := &meshMember{name: name, c: on(i % 3)}
		j := meshJoin(x.c, room, "s"+name, "")
		x.id, x.tok = j.Str("peerId"), j.Str("resumeToken")
		if len(peerIDs(t, j)) != len(ms) || x.tok == "" {
			t.Fatalf("%s joined = %v", name, j)
		}
		for _, o := range ms {
			if st := expectAbout(t, o.c, 5*time.Second, "start", "", x.id); st.Str("peerSession") != "s"+name {
				t.Fatalf("start = %v", st)
			}
		}
		ms = append(ms, x)
	}
	exchange(t, ms, room, "before")
	a, c, e, b, d, f := ms[0], ms[1], ms[2], ms[3], ms[4], ms[5]
	survivors := []*meshMember{a, e, b, f} // on n1 and n3

	killed := time.Now()
	n[1].cl.Abort()
	c.c.WS.Close()
	d.c.WS.Close()
	go n[1].Stop(t) // its drain cannot reach NATS

	// quick: c is back on n3 before the death is noticed.
	c.c = on(2)
	jc := meshJoin(c.c, room, "sc", c.tok)
	if jc["resumed"] != true || jc.Str("peerId") != c.id || len(peerIDs(t, jc)) != 5 {
		t.Fatalf("quick: joined = %v", jc)
	}
	for _, x := range survivors {
		expectAbout(t, x.c, 10*time.Second, "notification", "peerReconnected", c.id)
	}
	t.Logf("quick: seat taken back %v after the kill", time.Since(killed).Round(time.Millisecond))

	// swept: the survivors hold d's seat, and tell the others.
	for _, x := range append(survivors, c) {
		expectAbout(t, x.c, 15*time.Second, "notification", "peerReconnecting", d.id)
	}
	t.Logf("swept: members told peerReconnecting %v after the kill", time.Since(killed).Round(time.Millisecond))
	a.c.Send(msg{"command": "takeCandidate", "streamId": room, "label": 0, "id": "0", "candidate": "kept", "peer": d.id})
	a.c.Quiet()
	d.c = on(0)
	jd := meshJoin(d.c, room, "sd", d.tok)
	if jd["resumed"] != true || jd.Str("peerId") != d.id || len(peerIDs(t, jd)) != 5 {
		t.Fatalf("swept: joined = %v", jd)
	}
	if m := expectAbout(t, d.c, 5*time.Second, "takeCandidate", "", a.id); m.Str("candidate") != "kept" {
		t.Fatalf("kept candidate = %v", m)
	}
	for _, x := range append(survivors, c) {
		expectAbout(t, x.c, 5*time.Second, "notification", "peerReconnected", d.id)
	}

	// Every pair goes on; nobody heard stop.
	exchange(t, ms, room, "after")
	for _, x := range ms {
		x.c.Quiet()
	}
}

func peerIDs(t *testing.T, m msg) []string {
	t.Helper()
	ps, _ := m["peers"].([]any)
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	return ids
}

// TestMeshOpsAcrossNodes: a mesh room with a member on each of three
// nodes, as operators and members see it: the listing (from any node)
// has the room's limit and its members oldest first with their ids; a
// member's restart starts its pairs over on every node; an operator's
// kick of a member on another node removes it alone.
func TestMeshOpsAcrossNodes(t *testing.T) {
	ns := startNATS(t)
	n := make([]*node, 3)
	for i := range n {
		n[i] = startNodeWith(t, ns.URL(), fmt.Sprintf("n%d", i+1), func(o *cluster.Options) { o.ReconnectGrace = 30 * time.Second },
			func(c *config.Config) { c.MaxPeers = []string{"group=8"} })
	}
	const room = "ops"
	var ms []*meshMember
	for i, name := range []string{"a", "b", "c"} {
		x := &meshMember{name: name, c: wstest.Dial(t, n[i].URL("group"))}
		j := meshJoin(x.c, room, "s"+name, "")
		x.id = j.Str("peerId")
		for _, o := range ms {
			expectAbout(t, o.c, 5*time.Second, "start", "", x.id)
		}
		ms = append(ms, x)
	}
	a, b, c := ms[0], ms[1], ms[2]

	snap, err := n[2].cl.Snapshot(t.Context(), hub.Filter{App: "group", Stream: room})
	if err != nil || len(snap.Rooms) != 1 {
		t.Fatalf("snapshot: %+v %v", snap, err)
	}
	ri := snap.Rooms[0]
	var listed []string
	for _, m := range ri.Members {
		listed = append(listed, m.Peer+"@"+m.Node)
	}
	if ri.MaxPeers != 8 || ri.CallStart.IsZero() || fmt.Sprint(listed) != fmt.Sprintf("[%s@n1 %s@n2 %s@n3]", a.id, b.id, c.id) {
		t.Fatalf("listed %v, max %d, call %v", listed, ri.MaxPeers, ri.CallStart)
	}
	var bID string
	for _, m := range ri.Members {
		if m.Peer == b.id {
			bID = m.ID
		}
	}

	// a starts all its pairs over: it is the newest now, and the others offer.
	a.c.Send(msg{"command": "join", "streamId": room, "maxPeers": 8, "session": "sa", "resumable": true, "restart": true})
	if j := a.c.Expect("notification", "joined"); j.Str("peerId") != a.id {
		t.Fatalf("restart joined = %v", j)
	}
	for _, x := range []*meshMember{b, c} {
		if m := expectAbout(t, x.c, 5*time.Second, "stop", "", a.id); m.Str("reason") != "restart" {
			t.Fatalf("stop = %v", m)
		}
		expectAbout(t, x.c, 5*time.Second, "start", "", a.id)
	}

	// b, on n2, is kicked from n1: b alone goes.
	if err := n[0].cl.Kick(t.Context(), hub.Key{App: "group", Stream: room}, bID, hub.ReasonKicked); err != nil {
		t.Fatal(err)
	}
	if m := b.c.Expect("stop", ""); m.Str("reason") != "kicked" || m["peer"] != nil {
		t.Fatalf("kicked member got %v", m)
	}
	b.c.Expect("notification", "leaved")
	for _, x := range []*meshMember{a, c} {
		if m := expectAbout(t, x.c, 5*time.Second, "stop", "", b.id); m.Str("reason") != "kicked" {
			t.Fatalf("stop = %v", m)
		}
	}
	a.c.Send(msg{"command": "peerMessageCommand", "streamId": room, "definition": "chat", "data": "still", "peer": c.id})
	if m := expectAbout(t, c.c, 5*time.Second, "peerMessageCommand", "", a.id); m.Str("data") != "still" {
		t.Fatalf("message = %v", m)
	}
	for _, x := range []*meshMember{a, c} {
		x.c.Quiet()
	}
}
