package live

import (
	"slices"
	"testing"
	"time"
)

func TestLiveness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New("me~01", 2*time.Second, t0)
	if !l.Alive("stranger~01", t0.Add(time.Second)) {
		t.Fatal("a node never heard from is dead during the grace period")
	}
	l.Heard("a~01", t0.Add(time.Second))
	if sus, sweep := l.Check(t0.Add(2 * time.Second)); len(sus) != 0 || !sweep {
		t.Fatalf("at grace end: suspects %v sweep %v, want none and a sweep", sus, sweep)
	}
	if l.Alive("stranger~01", t0.Add(3*time.Second)) || !l.Alive("a~01", t0.Add(2*time.Second)) {
		t.Fatal("after grace, unknown nodes are dead and heard ones alive")
	}
	// Silence makes a suspect, alive while it is probed.
	sus, _ := l.Check(t0.Add(3 * time.Second))
	if !slices.Equal(sus, []string{"a~01"}) || !l.Alive("a~01", t0.Add(3*time.Second)) {
		t.Fatalf("suspects = %v", sus)
	}
	if sus, _ := l.Check(t0.Add(3 * time.Second)); len(sus) != 0 {
		t.Fatalf("a suspect is probed once, got %v again", sus)
	}
	l.Cleared("a~01", t0.Add(3*time.Second)) // it answered the probe
	if !l.Alive("a~01", t0.Add(4*time.Second)) {
		t.Fatal("a suspect that answered is alive")
	}
	sus, _ = l.Check(t0.Add(6 * time.Second))
	if len(sus) != 1 || !l.Declare("a~01") || l.Alive("a~01", t0.Add(6*time.Second)) {
		t.Fatal("a suspect that did not answer is dead")
	}
	if h := l.Heard("a~01", t0.Add(7*time.Second)); !h.Revived || !l.Alive("a~01", t0.Add(7*time.Second)) {
		t.Fatal("a node heard again is alive")
	}
	l.Reset(t0.Add(10 * time.Second)) // after an outage nobody is condemned for it
	if sus, _ := l.Check(t0.Add(11 * time.Second)); len(sus) != 0 {
		t.Fatalf("suspects after reset: %v", sus)
	}
	if !l.Alive("me~01", t0.Add(time.Hour)) {
		t.Fatal("self is always alive")
	}
}

func TestIncarnations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New("me~05", 2*time.Second, t0)
	l.Heard("a~01", t0)
	// a restarts: its new life supersedes the old one at once.
	h := l.Heard("a~02", t0.Add(100*time.Millisecond))
	if !slices.Equal(h.Superseded, []string{"a~01"}) {
		t.Fatalf("superseded = %v", h.Superseded)
	}
	now := t0.Add(200 * time.Millisecond)
	if l.Alive("a~01", now) || !l.Alive("a~02", now) {
		t.Fatal("the old life is dead, the new one alive")
	}
	if h := l.Heard("a~01", now); !h.Stale || l.Alive("a~01", now) {
		t.Fatal("a heartbeat of an older life changes nothing")
	}
	if l.Alive("a", now) {
		t.Fatal("an id of an earlier version (no epoch) is older than any life")
	}
	// Earlier lives of this very node are dead from the start.
	if l.Alive("me~04", t0) {
		t.Fatal("an earlier life of this node is alive")
	}
	if h := l.Heard("me~06", now); !h.Usurped {
		t.Fatal("a newer life of this node's id goes unnoticed")
	}
	if n := l.Count(now); n != 2 {
		t.Fatalf("count = %d, want 2 (self and a~02)", n)
	}
	l.Left("a~02")
	if l.Alive("a~02", now) || l.Count(now) != 1 {
		t.Fatal("a node that said goodbye is gone")
	}
}
