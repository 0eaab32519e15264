package client_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/client"
)

// callWithTracks connects two peers in room that record the tracks they
// receive and their events.
func callWithTracks(t *testing.T, room string) (sa, sb *client.Session, ra, rb *remoteTracks, la, lb *eventLog) {
	srv := startServer(t)
	ra, rb, la, lb = &remoteTracks{}, &remoteTracks{}, &eventLog{}, &eventLog{}
	alice := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), room, &client.PeerOptions{OnPeerConnection: ra.hook, OnEvent: la.add})
	bob := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), room, &client.PeerOptions{OnPeerConnection: rb.hook, OnEvent: lb.add})
	sa, sb = accept(t, alice), accept(t, bob)
	return
}

// TestGlare: both sides add a track at the same moment, several times.
// Every time both end up receiving the other's track on the one
// PeerConnection each, and the data channel carries a numbered stream
// through it all without a loss; at least one round really collided
// (the impolite side ignored an offer, the polite one rolled its back).
func TestGlare(t *testing.T) {
	sa, sb, ra, rb, la, lb := callWithTracks(t, "glare")
	pcA, pcB := sa.PeerConnection(), sb.PeerConnection()
	out := sendNumbered(t, sa, 5*time.Millisecond)
	in := checkNumbered(t, sb)
	const maxRounds = 8
	round := 0
	for ; round < maxRounds && (la.count(client.EventCollision) == 0 || lb.count(client.EventCollision) == 0); round++ {
		ta, tb := videoTrack(t, fmt.Sprintf("alice%d", round)), videoTrack(t, fmt.Sprintf("bob%d", round))
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for _, x := range []struct {
			s  *client.Session
			tr *webrtc.TrackLocalStaticSample
		}{{sa, ta}, {sb, tb}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				if _, err := x.s.AddTrack(x.tr); err != nil {
					t.Error(err)
				}
			}()
		}
		close(gate)
		wg.Wait()
		waitFor(t, "both tracks on both sides", func() bool { return ra.has(tb.ID()) && rb.has(ta.ID()) })
	}
	t.Logf("%d rounds of simultaneous adds; collisions: alice %d, bob %d", round,
		la.count(client.EventCollision), lb.count(client.EventCollision))
	if !la.find(func(e client.PeerEvent) bool {
		return e.Kind == client.EventCollision && e.Reason == "ignored their offer"
	}) ||
		!lb.find(func(e client.PeerEvent) bool {
			return e.Kind == client.EventCollision && e.Reason == "rolled back our offer"
		}) {
		t.Fatalf("no offer collision in %d rounds: glare was never exercised", round)
	}
	if sa.PeerConnection() != pcA || sb.PeerConnection() != pcB || sa.Err() != nil || sb.Err() != nil {
		t.Fatalf("sessions replaced or ended: %v, %v", sa.Err(), sb.Err())
	}
	if n := la.count(client.EventNegotiating) + lb.count(client.EventNegotiating); n != 2 {
		t.Fatalf("%d PeerConnections made, want one per side", n)
	}
	in.upTo(t, out.end())
}

// TestRenegotiation: a track added, removed and added again mid-call, on
// the same PeerConnection, while a numbered stream keeps flowing.
func TestRenegotiation(t *testing.T) {
	sa, sb, ra, rb, la, lb := callWithTracks(t, "reneg")
	out := sendNumbered(t, sb, 5*time.Millisecond)
	in := checkNumbered(t, sa)

	cam := videoTrack(t, "bob-camera")
	sender, err := sb.AddTrack(cam) // the polite side offers
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice receives bob's camera", func() bool { return ra.has(cam.ID()) })

	if err := sb.RemoveTrack(sender); err != nil {
		t.Fatal(err)
	}
	// Alice's side of that m-line no longer receives once it is negotiated.
	waitFor(t, "alice's receiver of the camera goes inactive", func() bool {
		for _, tr := range sa.PeerConnection().GetTransceivers() {
			if tr.Kind() == webrtc.RTPCodecTypeVideo && tr.Direction() == webrtc.RTPTransceiverDirectionInactive {
				return true
			}
		}
		return false
	})

	screen := videoTrack(t, "alice-screen")
	if _, err := sa.AddTrack(screen); err != nil { // and the impolite side
		t.Fatal(err)
	}
	// Both at once: their offers usually cross (TestGlareOnReusedTransceiver
	// makes them cross every time).
	cam2 := videoTrack(t, "bob-camera-again")
	if _, err := sb.AddTrack(cam2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice receives bob's camera again", func() bool { return ra.has(cam2.ID()) })
	waitFor(t, "bob receives alice's screen", func() bool { return rb.has(screen.ID()) })

	in.upTo(t, out.end())
	if sa.Err() != nil || sb.Err() != nil {
		t.Fatalf("a session ended: %v, %v", sa.Err(), sb.Err())
	}
	if n := la.count(client.EventNegotiating) + lb.count(client.EventNegotiating); n != 2 {
		t.Fatalf("%d PeerConnections made, want one per side", n)
	}
	if la.count(client.EventRenegotiating)+lb.count(client.EventRenegotiating) < 3 {
		t.Fatalf("fewer renegotiations than changes: alice %d, bob %d", la.count(client.EventRenegotiating), lb.count(client.EventRenegotiating))
	}
	t.Logf("numbered stream: %d messages, longest gap %v; offer collisions: alice %d, bob %d", in.count(), in.gap(),
		la.count(client.EventCollision), lb.count(client.EventCollision))
}

// TestICERestart: an ICE restart asked for on either side runs on the
// same PeerConnection (new ICE credentials) while the numbered stream
// keeps going without a loss.
func TestICERestart(t *testing.T) {
	sa, sb, _, _, la, lb := callWithTracks(t, "icerestart")
	out := sendNumbered(t, sa, 5*time.Millisecond)
	in := checkNumbered(t, sb)
	for i, s := range []*client.Session{sa, sb, sa} {
		before := ufrag(sb.PeerConnection().RemoteDescription().SDP)
		s.RestartICE()
		waitFor(t, "new ICE credentials", func() bool {
			d := sb.PeerConnection().RemoteDescription()
			return d != nil && ufrag(d.SDP) != before && sa.PeerConnection().ConnectionState() == webrtc.PeerConnectionStateConnected
		})
		in.upTo(t, in.count()+10)
		t.Logf("restart %d done", i)
	}
	in.upTo(t, out.end())
	if sa.Err() != nil || sb.Err() != nil {
		t.Fatalf("a session ended: %v, %v", sa.Err(), sb.Err())
	}
	if n := la.count(client.EventNegotiating) + lb.count(client.EventNegotiating); n != 2 {
		t.Fatalf("%d PeerConnections made, want one per side", n)
	}
	t.Logf("numbered stream: %d messages, longest gap %v", in.count(), in.gap())
}

func ufrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
