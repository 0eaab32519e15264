package client_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/server"
)

func startMeshServer(t *testing.T) *testserver.Server { return startMeshServerTB(t) }

func startMeshServerTB(t testing.TB) *testserver.Server {
	t.Helper()
	cfg := testserver.Config()
	cfg.MaxPeers = []string{"mesh=8"}
	return testserver.Start(t, cfg, server.Options{})
}

// member is one Go peer in a mesh room, with the sessions it accepted by
// the other member's name (their hellos).
type member struct {
	name     string
	m        *client.Mesh
	log      *eventLog
	sessions map[string]client.MeshSession
}

func joinMesh(t *testing.T, url, room, name string, max int) *member {
	t.Helper()
	mb := &member{name: name, log: &eventLog{}, sessions: map[string]client.MeshSession{}}
	hello, _ := json.Marshal(map[string]string{"name": name})
	m, err := client.JoinMesh(ctxFor(t), dial(t, url), room, &client.MeshOptions{MaxPeers: max, Peer: client.PeerOptions{
		Loopback: true, Hello: hello, OnEvent: mb.log.add, Logger: testLogger(t).With("side", name)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mb.m = m
	return mb
}

// accept takes n more sessions.
func (mb *member) accept(t *testing.T, n int) {
	t.Helper()
	for range n {
		s, err := mb.m.Accept(ctxFor(t))
		if err != nil {
			t.Fatalf("%s: accept: %v", mb.name, err)
		}
		var h struct{ Name string }
		json.Unmarshal(s.Hello(), &h)
		mb.sessions[h.Name] = s
	}
}

// talk: every member sends every other one a line on their pair's data
// channel, and every line arrives.
func talk(t *testing.T, ms ...*member) {
	t.Helper()
	ctx := ctxFor(t)
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				if err := a.sessions[b.name].SendText(ctx, a.name+">"+b.name); err != nil {
					t.Fatalf("%s to %s: %v", a.name, b.name, err)
				}
			}
		}
	}
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				if got, want := recvText(t, b.sessions[a.name].Session), a.name+">"+b.name; got != want {
					t.Fatalf("%s got %q, want %q", b.name, got, want)
				}
			}
		}
	}
}

// TestMeshFourGoPeers: four Go peers in one mesh room connect pairwise
// (the one that joined first offers in each pair) and talk to each other;
// one's signaling socket is cut and its seat resumed without any pair
// noticing; one leaves and its pairs end; a newcomer takes its place and
// connects to all.
func TestMeshFourGoPeers(t *testing.T) {
	srv := startMeshServer(t)
	px := tcpproxy.Start(t, srv.Addr)
	a := joinMesh(t, px.URL("mesh"), "room", "a", 4)
	if a.m.ID() != "1" || a.m.MaxPeers() != 4 {
		t.Fatalf("id %q, max %d", a.m.ID(), a.m.MaxPeers())
	}
	b := joinMesh(t, srv.URL("mesh"), "room", "b", 4)
	c := joinMesh(t, srv.URL("mesh"), "room", "c", 4)
	d := joinMesh(t, srv.URL("mesh"), "room", "d", 4)
	all := []*member{a, b, c, d}
	for _, x := range all {
		x.accept(t, 3)
	}
	for i, x := range all {
		for j, y := range all {
			if i != j && x.sessions[y.name].Offerer() != (i < j) {
				t.Errorf("%s offers to %s: %v", x.name, y.name, x.sessions[y.name].Offerer())
			}
		}
	}
	talk(t, all...)
	// A fifth is refused: the room's limit is its first joiner's.
	if _, err := client.JoinMesh(ctxFor(t), dial(t, srv.URL("mesh")), "room", &client.MeshOptions{MaxPeers: 8}); !errors.Is(err, protocol.ErrNoSpaceForNewPeer) {
		t.Fatalf("fifth member: %v", err)
	}

	// a's socket is cut: it takes its seat back, every pair goes on.
	px.Cut()
	waitLogged(t, a.log, "a resumes its seat", func(e client.PeerEvent) bool { return e.Kind == client.EventJoined && e.Resumed })
	for _, x := range []*member{b, c, d} {
		waitLogged(t, x.log, x.name+" hears a is back", func(e client.PeerEvent) bool {
			return e.Kind == client.EventPeerReconnected && e.Peer == "1"
		})
	}
	talk(t, all...)
	for _, x := range all {
		if n := x.log.count(client.EventSessionEnd); n != 0 {
			t.Errorf("%s: %d sessions ended", x.name, n)
		}
		if n := x.log.count(client.EventNegotiating); n != 3 {
			t.Errorf("%s made %d PeerConnections, want 3", x.name, n)
		}
	}

	// b leaves: its pairs end.
	b.m.Close()
	for _, x := range []*member{a, c, d} {
		select {
		case <-x.sessions["b"].Done():
		case <-ctxFor(t).Done():
			t.Fatalf("%s's session with b did not end", x.name)
		}
		delete(x.sessions, "b")
	}
	// e takes b's place and connects to everyone.
	e := joinMesh(t, srv.URL("mesh"), "room", "e", 4)
	e.accept(t, 3)
	for _, x := range []*member{a, c, d} {
		x.accept(t, 1)
		if !x.sessions["e"].Offerer() {
			t.Errorf("%s does not offer to the newcomer", x.name)
		}
	}
	talk(t, a, c, d, e)
	if n, err := e.m.Broadcast(ctxFor(t), []byte("all")); n != 3 || err != nil {
		t.Fatalf("broadcast to %d: %v", n, err)
	}
	for _, x := range []*member{a, c, d} {
		if got := recvText(t, x.sessions["e"].Session); got != "all" {
			t.Fatalf("%s got %q", x.name, got)
		}
	}
}

// TestMeshInARoomOfTwo: a Mesh in an app without mesh rooms is a call of
// two, with a plain Peer as its partner.
func TestMeshInARoomOfTwo(t *testing.T) {
	srv := startMeshServer(t)
	a := joinMesh(t, srv.URL("other"), "two", "a", 4)
	p := newPeer(t, dial(t, srv.URL("other")), "two", &client.PeerOptions{Hello: []byte(`{"name":"p"}`)})
	a.accept(t, 1)
	s := accept(t, p)
	if a.m.ID() != "" || a.m.MaxPeers() != 2 || !a.sessions["p"].Offerer() || s.Offerer() {
		t.Fatalf("id %q, max %d", a.m.ID(), a.m.MaxPeers())
	}
	ctx := ctxFor(t)
	if err := s.SendText(ctx, "hi"); err != nil {
		t.Fatal(err)
	}
	if got := recvText(t, a.sessions["p"].Session); got != "hi" {
		t.Fatal(got)
	}
}

// TestMeshNewcomerDuringRenegotiation: a and b renegotiate their call (each
// adds a camera at once, so their offers cross) while d joins. Only the
// a-b pair may see a collision (and perfect negotiation settles it on the
// same PeerConnection); d's pairs never glare, since only the older member
// of each pair offers, and everyone ends connected with both cameras
// through.
func TestMeshNewcomerDuringRenegotiation(t *testing.T) {
	srv := startMeshServer(t)
	a := joinMesh(t, srv.URL("mesh"), "reneg", "a", 4)
	b := joinMesh(t, srv.URL("mesh"), "reneg", "b", 4)
	c := joinMesh(t, srv.URL("mesh"), "reneg", "c", 4)
	for _, x := range []*member{a, b, c} {
		x.accept(t, 2)
	}
	sab, sba := a.sessions["b"], b.sessions["a"]
	pcAB, pcBA := sab.PeerConnection(), sba.PeerConnection()
	got := make(chan string, 4)
	sba.PeerConnection().OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { got <- "b has " + tr.ID() })
	sab.PeerConnection().OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { got <- "a has " + tr.ID() })
	camA, camB := videoTrack(t, "cam-a"), videoTrack(t, "cam-b")
	done := make(chan struct{})
	var d *member
	go func() {
		defer close(done)
		d = joinMesh(t, srv.URL("mesh"), "reneg", "d", 4)
	}()
	if _, err := sab.AddTrack(camA); err != nil {
		t.Fatal(err)
	}
	if _, err := sba.AddTrack(camB); err != nil {
		t.Fatal(err)
	}
	<-done
	d.accept(t, 3)
	for _, x := range []*member{a, b, c} {
		x.accept(t, 1)
		if !x.sessions["d"].Offerer() {
			t.Errorf("%s does not offer to the newcomer", x.name)
		}
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case s := <-got:
			seen[s] = true
		case <-ctxFor(t).Done():
			t.Fatalf("cameras through: %v", seen)
		}
	}
	if !seen["b has cam-a"] || !seen["a has cam-b"] {
		t.Fatalf("cameras through: %v", seen)
	}
	talk(t, a, b, c, d)
	if sab.PeerConnection() != pcAB || sba.PeerConnection() != pcBA || sab.Err() != nil || sba.Err() != nil {
		t.Fatal("a and b's call was replaced or ended")
	}
	for _, x := range []*member{a, b, c, d} {
		if x.log.find(func(e client.PeerEvent) bool {
			return e.Kind == client.EventCollision && (e.Peer == d.m.ID() || x == d)
		}) {
			t.Errorf("%s: a pair with the newcomer saw offers cross", x.name)
		}
		if n := x.log.count(client.EventSessionEnd); n != 0 {
			t.Errorf("%s: %d sessions ended", x.name, n)
		}
	}
}
