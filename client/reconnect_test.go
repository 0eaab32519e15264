package client_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// call is two peers in a room, alice's signaling through a proxy, each
// sending the other a numbered stream.
type call struct {
	px         *tcpproxy.Proxy
	alice, bob *client.Peer
	sa, sb     *client.Session
	la, lb     *eventLog
	stops      *client.Subscription // bob's client's events: a Stop must never come
	outA, outB *numbered
	inA, inB   *received
}

// startCall sets a call up with alice behind px; bob connects to bobURL
// (directly, or through px too).
func startCall(t *testing.T, px *tcpproxy.Proxy, bobURL, room string) *call {
	c := &call{px: px, la: &eventLog{}, lb: &eventLog{}}
	c.alice = newPeer(t, dial(t, px.URL("WebRTCAppEE")), room, &client.PeerOptions{OnEvent: c.la.add})
	bc := dial(t, bobURL)
	c.stops = bc.Subscribe(room)
	t.Cleanup(c.stops.Close)
	c.bob = newPeer(t, bc, room, &client.PeerOptions{OnEvent: c.lb.add})
	c.sa, c.sb = accept(t, c.alice), accept(t, c.bob)
	c.outA, c.outB = sendNumbered(t, c.sa, 5*time.Millisecond), sendNumbered(t, c.sb, 5*time.Millisecond)
	c.inB, c.inA = checkNumbered(t, c.sb), checkNumbered(t, c.sa)
	c.inB.upTo(t, 20)
	c.inA.upTo(t, 20)
	return c
}

// finish checks that the call went through whatever happened on the same
// PeerConnections, with both numbered streams complete and in order, and
// that bob's client never heard stop.
func (c *call) finish(t *testing.T) {
	t.Helper()
	// A little more traffic after the fault, then everything must arrive.
	c.inB.upTo(t, c.inB.count()+20)
	c.inA.upTo(t, c.inA.count()+20)
	nA, nB := c.outA.end(), c.outB.end()
	c.inB.upTo(t, nA)
	c.inA.upTo(t, nB)
	if c.sa.Err() != nil || c.sb.Err() != nil {
		t.Fatalf("a session ended: alice %v, bob %v", c.sa.Err(), c.sb.Err())
	}
	for name, l := range map[string]*eventLog{"alice": c.la, "bob": c.lb} {
		if n := l.count(client.EventNegotiating); n != 1 {
			t.Errorf("%s made %d PeerConnections, want 1", name, n)
		}
		if n := l.count(client.EventSessionEnd); n != 0 {
			t.Errorf("%s's session ended %d times", name, n)
		}
	}
	for len(c.stops.Events()) > 0 {
		if ev, ok := (<-c.stops.Events()).(client.Stop); ok {
			t.Errorf("bob's client got %#v", ev)
		}
	}
	t.Logf("streams complete: alice sent %d, bob sent %d; longest gap at bob %v, at alice %v", nA, nB, c.inB.gap(), c.inA.gap())
}

func waitLogged(t *testing.T, l *eventLog, what string, ok func(client.PeerEvent) bool) {
	t.Helper()
	waitFor(t, what, func() bool { return l.find(ok) })
}

// TestSocketCutResumes: alice's signaling socket is cut mid-call with the
// server alive. Her client reconnects and takes her held seat back; bob is
// told she is reconnecting and back, never stop; the PeerConnections and
// both numbered streams go on untouched.
func TestSocketCutResumes(t *testing.T) {
	srv := startServer(t)
	c := startCall(t, tcpproxy.Start(t, srv.Addr), srv.URL("WebRTCAppEE"), "cut")
	c.px.Cut()
	waitLogged(t, c.la, "alice resumes her seat", func(e client.PeerEvent) bool { return e.Kind == client.EventJoined && e.Resumed })
	waitLogged(t, c.lb, "bob hears alice is back", func(e client.PeerEvent) bool { return e.Kind == client.EventPeerReconnected })
	if c.lb.count(client.EventPeerReconnecting) == 0 {
		t.Error("bob was not told alice was reconnecting")
	}
	c.finish(t)
}

// TestHalfOpenResumes: the same, but the server keeps alice's old socket
// half-open (it never answers again): her new socket takes the seat over
// at once, without waiting for a probe or a timeout.
func TestHalfOpenResumes(t *testing.T) {
	srv := startServer(t)
	c := startCall(t, tcpproxy.Start(t, srv.Addr), srv.URL("WebRTCAppEE"), "halfopen")
	start := time.Now()
	c.px.HalfOpen()
	waitLogged(t, c.la, "alice resumes her seat", func(e client.PeerEvent) bool { return e.Kind == client.EventJoined && e.Resumed })
	t.Logf("seat taken back %v after the socket went half-open", time.Since(start))
	c.finish(t)
}

// TestPartnerSignalingGone: alice's signaling cannot come back within the
// server's grace. Bob is told stop (reason timeout) but his connection to
// alice is up, so he keeps it and the data keeps flowing peer to peer.
// When alice's signaling returns, the two recognise each other by their
// session ids and still keep the same connection.
func TestPartnerSignalingGone(t *testing.T) {
	cfg := testserver.Config()
	cfg.ReconnectGrace = 500 * time.Millisecond
	srv := testserver.Start(t, cfg, server.Options{})
	px := tcpproxy.Start(t, srv.Addr)
	c := startCall(t, px, srv.URL("WebRTCAppEE"), "gone")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px.SetBackend(dead.Addr().String())
	dead.Close() // nothing listens there: alice's reconnects fail
	c.px.Cut()
	waitLogged(t, c.lb, "bob hears alice is gone (stop, timeout) and keeps the call", func(e client.PeerEvent) bool {
		return e.Kind == client.EventPeerAway && e.Reason == client.ReasonTimeout
	})
	// Still talking, with no signaling on alice's side at all.
	c.inB.upTo(t, c.inB.count()+50)
	c.inA.upTo(t, c.inA.count()+50)
	px.SetBackend(srv.Addr)
	waitLogged(t, c.la, "alice recognises bob", func(e client.PeerEvent) bool { return e.Kind == client.EventRecognized })
	waitLogged(t, c.lb, "bob recognises alice", func(e client.PeerEvent) bool { return e.Kind == client.EventRecognized })
	// finish checks the stop reached the peer only as news: drain it first.
	for len(c.stops.Events()) > 0 {
		<-c.stops.Events()
	}
	c.finish(t)
}

// TestServerRestartKeepsCall: the server both peers use goes away and a
// fresh one (no state) takes its place behind the same address: once with
// a drain (server_will_stop), once as a crash (the sockets just die). Both
// peers rejoin, recognise each other by their session ids, and keep their
// PeerConnections; the numbered streams lose nothing.
func TestServerRestartKeepsCall(t *testing.T) {
	for _, mode := range []string{"drain", "crash"} {
		t.Run(mode, func(t *testing.T) {
			old, next := startServer(t), startServer(t)
			px := tcpproxy.Start(t, old.Addr)
			c := startCall(t, px, px.URL("WebRTCAppEE"), "restart-"+mode)
			px.SetBackend(next.Addr)
			switch mode {
			case "drain":
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				old.Drain(ctx) // returns once both clients have moved
			case "crash":
				px.Cut()
			}
			waitLogged(t, c.la, "alice recognises bob", func(e client.PeerEvent) bool { return e.Kind == client.EventRecognized })
			waitLogged(t, c.lb, "bob recognises alice", func(e client.PeerEvent) bool { return e.Kind == client.EventRecognized })
			c.finish(t)
			if n := next.Connections(); n != 2 {
				t.Fatalf("the new server has %d connections, want 2", n)
			}
		})
	}
}

// TestPartnerDies: bob goes without hanging up: his socket closes (the
// server holds his seat) and his PeerConnection closes. Alice's session
// ends at once: the closed connection is a hang-up, whatever the server
// says. (A partner killed outright, which closes nothing, is
// cmd/duet's TestPeerPartnerKilled.)
func TestPartnerDies(t *testing.T) {
	cfg := testserver.Config()
	cfg.ReconnectGrace = time.Second
	srv := testserver.Start(t, cfg, server.Options{})
	la := &eventLog{}
	alice := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "dies", &client.PeerOptions{OnEvent: la.add})
	bc := dial(t, srv.URL("WebRTCAppEE"))
	bob := newPeer(t, bc, "dies", nil)
	sa, sb := accept(t, alice), accept(t, bob)
	start := time.Now()
	bc.Close() // the socket goes without a leave…
	sb.PeerConnection().Close()
	select { // …and so does the connection
	case <-sa.Done():
	case <-time.After(wait):
		t.Fatal("alice still holds a call whose connection the partner closed")
	}
	if !errors.Is(sa.Err(), client.ErrPeerLeft) && !errors.Is(sa.Err(), client.ErrConnectionFailed) {
		t.Fatalf("alice's session ended with %v", sa.Err())
	}
	t.Logf("alice's session ended after %v: %v", time.Since(start), sa.Err())
}

// TestQuietSignaling: alice's signaling socket goes quiet (nothing closes,
// nothing passes). Her client notices by its read timeout and replaces the
// socket, taking her seat over from the silent one; the call, which never
// depended on that socket, goes on untouched and bob never sees stop.
func TestQuietSignaling(t *testing.T) {
	srv := startServer(t)
	px := tcpproxy.Start(t, srv.Addr)
	c := &call{px: px, la: &eventLog{}, lb: &eventLog{}}
	ac, err := client.Dial(ctxFor(t), px.URL("WebRTCAppEE"), &client.Options{
		Logger: testLogger(t).With("side", "client"), PingInterval: 200 * time.Millisecond, ReadTimeout: time.Second,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ac.Close() })
	c.alice = newPeer(t, ac, "quiet", &client.PeerOptions{OnEvent: c.la.add})
	bc := dial(t, srv.URL("WebRTCAppEE"))
	c.stops = bc.Subscribe("quiet")
	t.Cleanup(c.stops.Close)
	c.bob = newPeer(t, bc, "quiet", &client.PeerOptions{OnEvent: c.lb.add})
	c.sa, c.sb = accept(t, c.alice), accept(t, c.bob)
	c.outA, c.outB = sendNumbered(t, c.sa, 5*time.Millisecond), sendNumbered(t, c.sb, 5*time.Millisecond)
	c.inB, c.inA = checkNumbered(t, c.sb), checkNumbered(t, c.sa)

	start := time.Now()
	px.Silence()
	waitLogged(t, c.la, "alice replaces the quiet socket and resumes", func(e client.PeerEvent) bool {
		return e.Kind == client.EventJoined && e.Resumed
	})
	t.Logf("quiet socket replaced and seat resumed after %v", time.Since(start))
	c.finish(t)
}
