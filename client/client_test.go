package client_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/server"
)

// TestRoomFullIsTyped: a third peer is refused with the server's
// NoSpaceForNewPeer, as a *client.ServerError usable with errors.Is.
func TestRoomFullIsTyped(t *testing.T) {
	srv := startServer(t)
	newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "full", nil)
	newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "full", nil)
	c := dial(t, srv.URL("WebRTCAppEE"))
	_, err := client.NewPeer(ctxFor(t), c, "full", &client.PeerOptions{Loopback: true})
	if !errors.Is(err, protocol.ErrNoSpaceForNewPeer) {
		t.Fatalf("third peer: %v, want NoSpaceForNewPeer", err)
	}
	var se *client.ServerError
	if !errors.As(err, &se) || se.Room != "full" || !se.Join {
		t.Fatalf("error %#v, want a *ServerError for the join of room full", err)
	}
	if rooms := c.Rooms(); len(rooms) != 0 {
		t.Fatalf("client still lists rooms %v after a refused join", rooms)
	}
	// Checked before anything is sent.
	if err := c.Join(ctxFor(t), "bad room!"); !errors.Is(err, protocol.ErrInvalidStreamName) {
		t.Fatalf("join of an invalid name: %v", err)
	}
}

// TestSignalingEvents drives the protocol by hand through two clients and
// their subscriptions: join, start, relayed messages both ways, leave.
func TestSignalingEvents(t *testing.T) {
	srv := startServer(t)
	a, b := dial(t, srv.URL("WebRTCAppEE")), dial(t, srv.URL("WebRTCAppEE"))
	subA, subB := a.Subscribe("r"), b.Subscribe("r")
	defer subA.Close()
	defer subB.Close()
	other := a.Subscribe("another-room")
	ctx := ctxFor(t)
	if err := a.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if err := b.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	next := func(s *client.Subscription, want client.Event) {
		t.Helper()
		for {
			select {
			case ev, ok := <-s.Events():
				if !ok {
					t.Fatalf("subscription closed: %v", s.Err())
				}
				switch ev.(type) {
				case client.ICEConfig, client.Connected:
					continue
				}
				if !reflect.DeepEqual(ev, want) {
					t.Fatalf("got %#v, want %#v", ev, want)
				}
				return
			case <-time.After(wait):
				t.Fatalf("no event, want %#v", want)
			}
		}
	}
	next(subA, client.Joined{Room: "r"})
	next(subA, client.Start{Room: "r"})
	next(subB, client.Joined{Room: "r"})
	send := func(c *client.Client, m client.Outgoing) {
		t.Helper()
		if err := c.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	send(a, client.TakeConfiguration{Room: "r", Type: "offer", SDP: "v=0 fake"})
	send(a, client.TakeCandidate{Room: "r", Label: 1, ID: "1", Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
	send(b, client.PeerMessage{Room: "r", Definition: "hello", Data: []byte(`{"n":1}`)})
	send(b, client.PeerMessage{Room: "r", Definition: "empty"})
	next(subB, client.TakeConfiguration{Room: "r", Type: "offer", SDP: "v=0 fake"})
	next(subB, client.TakeCandidate{Room: "r", Label: 1, ID: "1", Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
	next(subA, client.PeerMessage{Room: "r", Definition: "hello", Data: []byte(`{"n":1}`)})
	next(subA, client.PeerMessage{Room: "r", Definition: "empty", Data: []byte(`""`)})
	if err := b.Leave(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	next(subB, client.Leaved{Room: "r"})
	next(subA, client.Stop{Room: "r", Reason: client.ReasonLeft})
	// Relaying without a partner: the server's error, typed.
	send(a, client.PeerMessage{Room: "r", Definition: "anyone?"})
	next(subA, &client.ServerError{Room: "r", Definition: protocol.ErrNoPeerAssociated})
	// A subscription to another room sees only the socket's events.
	for len(other.Events()) > 0 {
		switch ev := <-other.Events(); ev.(type) {
		case client.ICEConfig, client.Connected:
		default:
			t.Fatalf("a subscription to another room got %#v", ev)
		}
	}
	a.Close()
	for range subA.Events() { // buffered events remain readable
	}
	if !errors.Is(subA.Err(), client.ErrClosed) {
		t.Fatalf("subscription after Close: %v", subA.Err())
	}
	if err := a.Join(ctx, "r"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("join after Close: %v", err)
	}
}

// TestNewPartnerRenegotiates: when the partner leaves, the session ends
// with ErrPeerLeft; the next one to join gets a fresh connection.
func TestNewPartnerRenegotiates(t *testing.T) {
	srv := startServer(t)
	alice := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "seat", nil)
	bob := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "seat", nil)
	sa, sb := accept(t, alice), accept(t, bob)
	ctx := ctxFor(t)
	sb.SendText(ctx, "bye")
	if got := recvText(t, sa); got != "bye" {
		t.Fatalf("alice got %q", got)
	}
	bob.Close()
	<-sa.Done()
	if !errors.Is(sa.Err(), client.ErrPeerLeft) {
		t.Fatalf("alice's session ended with %v", sa.Err())
	}
	// Sending on the ended session says why it ended, not what the closed
	// data channel says (duet peer maps the error to its exit code).
	wstest.Eventually(t, "alice's PeerConnection to close", func() bool {
		return sa.PeerConnection().ConnectionState() == webrtc.PeerConnectionStateClosed
	})
	if err := sa.SendText(ctx, "anyone?"); !errors.Is(err, client.ErrPeerLeft) {
		t.Fatalf("send on the ended session: %v", err)
	}
	carol := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "seat", nil)
	sa2, sc := accept(t, alice), accept(t, carol)
	if sa2.PeerConnection() == sa.PeerConnection() {
		t.Fatal("same PeerConnection for a new partner")
	}
	if sa2.Hello() != nil {
		t.Fatalf("hello %s from a partner that sent none", sa2.Hello())
	}
	sc.SendText(ctx, "hi, carol here")
	if got := recvText(t, sa2); got != "hi, carol here" {
		t.Fatalf("alice got %q", got)
	}
}

// TestICEServersFromServer: the PeerConnection uses the ICE servers the
// server hands out in iceServerConfig.
func TestICEServersFromServer(t *testing.T) {
	cfg := testserver.Config()
	cfg.StunURI = "stun:127.0.0.1:9" // nothing listens: host candidates still connect
	srv := testserver.Start(t, cfg, server.Options{})
	alice := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "ice", nil)
	newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "ice", nil)
	s := accept(t, alice)
	got := s.PeerConnection().GetConfiguration().ICEServers
	want := []webrtc.ICEServer{{URLs: []string{cfg.StunURI}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ICE servers %+v, want %+v", got, want)
	}
}

func TestICEServers(t *testing.T) {
	cases := []struct {
		in   protocol.ICEServerConfig
		want []webrtc.ICEServer
	}{
		{protocol.ICEServerConfig{}, nil},
		{protocol.ICEServerConfig{StunServerURI: "stun:s:3478", TurnServerUsername: "u"}, []webrtc.ICEServer{{URLs: []string{"stun:s:3478"}}}},
		{protocol.ICEServerConfig{StunServerURI: "turn:t:3478", TurnServerUsername: "u", TurnServerCredential: "p"},
			[]webrtc.ICEServer{{URLs: []string{"turn:t:3478"}, Username: "u", Credential: "p"}}},
		{protocol.ICEServerConfig{StunServerURI: "http://bad"}, nil},
		{protocol.ICEServerConfig{StunServerURI: "stun:a", ICEServers: []protocol.ICEServer{{URLs: []string{"stun:a", "turn:b"}, Username: "u", Credential: "p"}}},
			[]webrtc.ICEServer{{URLs: []string{"stun:a", "turn:b"}, Username: "u", Credential: "p"}}},
	}
	for _, c := range cases {
		if got := client.ICEServers(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ICEServers(%+v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
