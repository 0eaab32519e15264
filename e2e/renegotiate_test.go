package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// TestCameraAndScreenShare: the demo's camera button turns Alice's camera
// off (the track is removed) and on again (a new camera track), and the
// screen button shares her screen and stops; each change is negotiated
// on the same RTCPeerConnection, and Bob's page shows it.
func TestCameraAndScreenShare(t *testing.T) {
	srv := startServer(t)
	browser := browsertest.Browser(t)
	url := roomURL(srv, "renegotiate")
	alice := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitInCall(t, alice, bob)
	watchCall(t, []string{"alice", "bob"}, alice, bob)
	offers := func() int {
		return evalJS[int](t, alice, "duetDemo.call.counters.offers + duetDemo.call.counters.answers")
	}
	n := offers()
	click := func(id string) { evalJS[bool](t, alice, "document.getElementById('"+id+"').click(), true") }
	samePC := func(step string) {
		for _, tab := range []context.Context{alice, bob} {
			if !evalJS[bool](t, tab, "watch.pc === duetDemo.call.pc") {
				t.Fatalf("%s: a new RTCPeerConnection", step)
			}
		}
		if m := offers(); m <= n {
			t.Fatalf("%s: no offer or answer on alice's side (%d, before %d)", step, m, n)
		} else {
			n = m
		}
	}

	// Camera off: the track goes, Bob sees "camera off", no spinner.
	click("cam")
	waitJS(t, alice, "duetDemo.local.camera === false && duetDemo.call.localStream.getVideoTracks().length === 0")
	waitJS(t, bob, `duetDemo.remote.camera === false && duetDemo.call.remoteStream.getVideoTracks().length === 0 &&
		!document.getElementById('remote-placeholder').hidden && document.getElementById('placeholder-text').textContent.includes('camera')`)
	samePC("camera off")
	chat(t, alice, bob, "camera off, still talking")

	// Camera on: a new camera track on the same m-line; Bob decodes it.
	click("cam")
	waitJS(t, alice, "duetDemo.local.camera === true")
	waitJS(t, bob, "duetDemo.remote.camera === true && document.getElementById('remote-placeholder').hidden")
	frames := evalJS[int](t, bob, "watch.frames")
	waitJS(t, bob, fmt.Sprintf("watch.frames > %d + 20", frames))
	waitVideoPlaying(t, bob)
	samePC("camera on")
	if m := evalJS[int](t, bob, "duetDemo.call.pc.getTransceivers().length"); m != 2 {
		t.Errorf("bob has %d transceivers after camera off and on, want 2 (the camera's m-line is reused)", m)
	}

	// Screen share: a second video track, shown beside the camera.
	click("screen")
	waitJS(t, alice, "duetDemo.local.screen === true")
	const screen = `document.getElementById('remote-screen')`
	waitJS(t, bob, "duetDemo.remote.screen === true && !document.getElementById('screen-wrap').hidden && "+screen+".videoWidth > 0")
	t0 := evalJS[float64](t, bob, screen+".currentTime")
	waitJS(t, bob, fmt.Sprintf("%s.currentTime > %f", screen, t0+0.5))
	samePC("screen share")
	frames = evalJS[int](t, bob, "watch.frames")
	waitJS(t, bob, fmt.Sprintf("watch.frames > %d + 20", frames)) // the camera goes on beside it

	click("screen")
	waitJS(t, alice, "duetDemo.local.screen === false")
	waitJS(t, bob, "duetDemo.remote.screen === false && document.getElementById('screen-wrap').hidden")
	samePC("screen share stopped")
	chat(t, bob, alice, "saw your screen")
}

// TestGlare: both sides add a track at the same moment, so that their
// offers cross. The impolite side (the one told start) ignores the
// other's offer; the polite one withdraws its own (never applied, so
// nothing to roll back), answers, then offers again. Both end with both
// tracks, each on its one connection, and both still show the other's
// camera (frames presented, not only decoded).
func TestGlare(t *testing.T) {
	srv := startServer(t)
	browser := browsertest.Browser(t)
	url := roomURL(srv, "glare")
	alice := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitInCall(t, alice, bob)
	watchCall(t, []string{"alice", "bob"}, alice, bob)
	tabs := []context.Context{alice, bob}
	for _, tab := range tabs {
		evalJS[bool](t, tab, `window.extra = 0, duetDemo.call.on('track', d => { if (!d.main) extra++; }), true`)
	}

	// Timing decides whether offers cross; try a few rounds (each adds a
	// track on both sides) until one did, and check every round.
	crossed := false
	for round := 1; round <= 5 && !crossed; round++ {
		at := time.Now().Add(600 * time.Millisecond).UnixMilli()
		var wg sync.WaitGroup
		errs := make([]error, len(tabs))
		for i, tab := range tabs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Get the track first; add it at the agreed moment.
				_, errs[i] = chromedp.Run(tab, chromedp.Evaluate[bool](fmt.Sprintf(`navigator.mediaDevices.getUserMedia({video: true}).then(s => {
					const tr = s.getVideoTracks()[0];
					setTimeout(() => duetDemo.call.addTrack(tr, s), %d - Date.now());
					return true;
				})`, at), chromedp.EvalAwaitPromise))
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for _, tab := range tabs {
			waitJS(t, tab, fmt.Sprintf("extra === %d", round))
			waitJS(t, tab, "duetDemo.call.pc.signalingState === 'stable' && watch.pc === duetDemo.call.pc")
		}
		a := evalJS[map[string]int](t, alice, "duetDemo.call.counters")
		b := evalJS[map[string]int](t, bob, "duetDemo.call.counters")
		t.Logf("round %d: alice %v, bob %v", round, a, b)
		crossed = a["collisions"] > 0 && b["collisions"] > 0
		if crossed {
			impolite, polite := a, b // alice was told start
			if impolite["ignoredOffers"] == 0 || polite["withdrawnOffers"] == 0 {
				t.Errorf("offers crossed but were not resolved by the roles: alice %v, bob %v", a, b)
			}
		}
	}
	if !crossed {
		t.Fatal("the offers never crossed in 5 rounds")
	}
	for _, tab := range tabs {
		// Each side sends its camera and the extra tracks, and receives the other's.
		got := evalJS[int](t, tab, `duetDemo.call.pc.getTransceivers().filter(t => t.currentDirection === 'sendrecv' || t.currentDirection === 'recvonly').length`)
		if want := 2 + evalJS[int](t, tab, "extra"); got < want {
			t.Errorf("receiving on %d transceivers, want %d", got, want)
		}
	}
	for _, tab := range tabs {
		// Frames are still presented (not only decoded) after the glare.
		n := evalJS[int](t, tab, "watch.frames")
		waitJS(t, tab, fmt.Sprintf("watch.frames > %d + 20", n))
	}
	chat(t, alice, bob, "after the glare")
}
