package client_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/client"
)

// crossOffers makes the next renegotiation offers of the two sides cross.
// Each peer's goroutine is held in its next EventRenegotiating (emitted
// just before the offer is made and sent) until the other peer has
// reached its own, so neither can read the other's offer before sending
// its own: a glare every time, whatever the machine's load, where two
// calls at once only make one likely. A side held longer than the test's
// wait is let go and the test fails.
func crossOffers(t *testing.T, la, lb *eventLog) {
	reached := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) }) // before the peers close
	for i, l := range []*eventLog{la, lb} {
		var once sync.Once
		l.setHook(func(e client.PeerEvent) {
			if e.Kind != client.EventRenegotiating {
				return
			}
			once.Do(func() {
				close(reached[i])
				select {
				case <-reached[1-i]:
				case <-done:
				case <-time.After(wait):
					t.Errorf("only one side renegotiated: the offers could not cross")
				}
			})
		})
	}
}

// collided checks that the offers did collide and were settled by the
// roles: alice (impolite, she got start) ignored bob's offer and bob
// (polite) gave his up.
func collided(t *testing.T, la, lb *eventLog) {
	t.Helper()
	if !la.find(func(e client.PeerEvent) bool {
		return e.Kind == client.EventCollision && e.Reason == "ignored their offer"
	}) || !lb.find(func(e client.PeerEvent) bool {
		return e.Kind == client.EventCollision && e.Reason == "rolled back our offer"
	}) {
		t.Fatalf("no offer collision (alice %d, bob %d collision events)",
			la.count(client.EventCollision), lb.count(client.EventCollision))
	}
}

// sameCall checks that both sessions are the ones the call started with,
// on one PeerConnection each.
func sameCall(t *testing.T, sa, sb *client.Session, pcA, pcB *webrtc.PeerConnection, la, lb *eventLog) {
	t.Helper()
	if sa.PeerConnection() != pcA || sb.PeerConnection() != pcB || sa.Err() != nil || sb.Err() != nil {
		t.Fatalf("sessions replaced or ended: %v, %v", sa.Err(), sb.Err())
	}
	if n := la.count(client.EventNegotiating) + lb.count(client.EventNegotiating); n != 2 {
		t.Fatalf("%d PeerConnections made, want one per side", n)
	}
}

// TestGlareOnReusedTransceiver: bob sends a camera and stops; then alice
// shares her screen and bob turns a camera on again, and their offers
// cross. Both tracks go out on the m-line the first camera used: pion
// left alice's side of it inactive (it does not keep the direction asked
// for apart from the negotiated one), so her offer only sends, and
// bob's answer cannot carry his camera; the engine sees that and offers
// it after the glare. Both must end with both tracks.
func TestGlareOnReusedTransceiver(t *testing.T) {
	sa, sb, ra, rb, la, lb := callWithTracks(t, "glare-reuse")
	pcA, pcB := sa.PeerConnection(), sb.PeerConnection()
	out := sendNumbered(t, sb, 5*time.Millisecond)
	in := checkNumbered(t, sa)

	cam := videoTrack(t, "bob-camera")
	sender, err := sb.AddTrack(cam)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice receives bob's camera", func() bool { return ra.has(cam.ID()) })
	if err := sb.RemoveTrack(sender); err != nil {
		t.Fatal(err)
	}
	// The removal negotiated on both sides: alice's side of the m-line is
	// inactive, and bob has applied her answer, so his next camera can
	// take the m-line again. (Before that, a track alice adds could ride
	// on her answer, and she would have no offer to cross with bob's.)
	var mid string
	waitFor(t, "alice's receiver of the camera goes inactive", func() bool {
		for _, tr := range sa.PeerConnection().GetTransceivers() {
			if tr.Kind() == webrtc.RTPCodecTypeVideo && tr.Direction() == webrtc.RTPTransceiverDirectionInactive {
				mid = tr.Mid()
				return true
			}
		}
		return false
	})
	waitFor(t, "bob applies alice's answer to the removal", func() bool {
		return answeredDirection(sb.PeerConnection(), mid) == "inactive"
	})

	crossOffers(t, la, lb)
	screen, cam2 := videoTrack(t, "alice-screen"), mediaTrack(t, webrtc.MimeTypeVP8, "bob-camera-again", 2*time.Millisecond)
	if _, err := sa.AddTrack(screen); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.AddTrack(cam2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice receives bob's camera again", func() bool { return ra.has(cam2.ID()) })
	waitFor(t, "bob receives alice's screen", func() bool { return rb.has(screen.ID()) })
	collided(t, la, lb)
	sameCall(t, sa, sb, pcA, pcB, la, lb)
	in.upTo(t, out.end())
	waitFor(t, "100 packets of bob's camera", func() bool { n, _ := ra.received(cam2.ID()); return n >= 100 })
	if n, gaps := ra.received(cam2.ID()); gaps != 0 {
		t.Fatalf("bob's camera: %d packets, with %d gaps in their sequence numbers", n, gaps)
	}
}

// TestGlareDifferentKinds: alice adds a video track and bob an audio
// track, and their offers cross. Both must end with both tracks. Had pion
// numbered the m-line of bob's given-up offer, it would be "1", like the
// video m-line of alice's winning offer, and pion would match bob's audio
// transceiver with it (mids.go). bob's audio (a packet every 2 ms) must
// arrive whole from its first packet on: none sent on its m-line before
// alice knows it (pion would take the first ones for a probe of its own).
func TestGlareDifferentKinds(t *testing.T) {
	sa, sb, ra, rb, la, lb := callWithTracks(t, "glare-kinds")
	pcA, pcB := sa.PeerConnection(), sb.PeerConnection()
	out := sendNumbered(t, sa, 5*time.Millisecond)
	in := checkNumbered(t, sb)

	crossOffers(t, la, lb)
	video, audio := videoTrack(t, "alice-video"), audioTrack(t, "bob-audio", 2*time.Millisecond)
	if _, err := sa.AddTrack(video); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.AddTrack(audio); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice receives bob's audio", func() bool { return ra.has(audio.ID()) })
	waitFor(t, "bob receives alice's video", func() bool { return rb.has(video.ID()) })
	collided(t, la, lb)
	sameCall(t, sa, sb, pcA, pcB, la, lb)
	in.upTo(t, out.end())
	waitFor(t, "100 packets of bob's audio", func() bool { n, _ := ra.received(audio.ID()); return n >= 100 })
	if n, gaps := ra.received(audio.ID()); gaps != 0 {
		t.Fatalf("bob's audio: %d packets, with %d gaps in their sequence numbers", n, gaps)
	}
}

// answeredDirection is the direction of mid's m-line in pc's current
// remote description ("" when there is none).
func answeredDirection(pc *webrtc.PeerConnection, mid string) string {
	d := pc.CurrentRemoteDescription()
	if d == nil {
		return ""
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(d.SDP); err != nil {
		return ""
	}
	for _, m := range parsed.MediaDescriptions {
		if v, _ := m.Attribute(sdp.AttrKeyMID); v != mid {
			continue
		}
		for _, a := range m.Attributes {
			if webrtc.NewRTPTransceiverDirection(a.Key) != webrtc.RTPTransceiverDirectionUnknown {
				return a.Key
			}
		}
	}
	return ""
}
