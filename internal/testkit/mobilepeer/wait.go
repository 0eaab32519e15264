package mobilepeer

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Start makes a peer of kind in room at url with its SDK's timers divided
// by scale, starts it, and closes it when the test ends.
func Start(t testing.TB, kind Kind, url, room string, scale int) *Peer {
	t.Helper()
	p, err := New(Options{Kind: kind, URL: url, Room: room, Timers: SDKTimers(kind).Scaled(scale), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// WaitCall waits until a and b have exchanged tag over their data channel
// both ways, within d. The text is sent again at every poll until it
// arrives: a channel that looks open may still be the call that just went.
func WaitCall(t testing.TB, a, b *Peer, tag string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, x := range []struct{ from, to *Peer }{{a, b}, {b, a}} {
		text := fmt.Sprintf("%s from %s", tag, x.from.Kind())
		for !slices.Contains(x.to.Received(), text) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no call within %v\n  %s\n  %s", tag, d, a.Describe(), b.Describe())
			}
			x.from.SendText(text)
			time.Sleep(50 * time.Millisecond) // the polling interval of a condition wait
		}
	}
}

// Wait polls cond for up to d.
func Wait(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond) // the polling interval of a condition wait
	}
}

// NoErrors fails the test if any of ps received an error frame: each one
// the SDK would hand to the app.
func NoErrors(t testing.TB, ps ...*Peer) {
	t.Helper()
	for _, p := range ps {
		if e := p.Errors(); len(e) != 0 {
			t.Errorf("error frames: %v (%s)", e, p.Describe())
		}
	}
}
