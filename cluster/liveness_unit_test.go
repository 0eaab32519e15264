package cluster

import (
	"slices"
	"testing"
	"time"
)

func TestLiveness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLiveness("me~01", 2*time.Second, t0)
	if !l.alive("stranger~01", t0.Add(time.Second)) {
		t.Fatal("a node never heard from is dead during the grace period")
	}
	l.heard("a~01", t0.Add(time.Second))
	if sus, sweep := l.check(t0.Add(2 * time.Second)); len(sus) != 0 || !sweep {
		t.Fatalf("at grace end: suspects %v sweep %v, want none and a sweep", sus, sweep)
	}
	if l.alive("stranger~01", t0.Add(3*time.Second)) || !l.alive("a~01", t0.Add(2*time.Second)) {
		t.Fatal("after grace, unknown nodes are dead and heard ones alive")
	}
	// Silence makes a suspect, alive while it is probed.
	sus, _ := l.check(t0.Add(3 * time.Second))
	if !slices.Equal(sus, []string{"a~01"}) || !l.alive("a~01", t0.Add(3*time.Second)) {
		t.Fatalf("suspects = %v", sus)
	}
	if sus, _ := l.check(t0.Add(3 * time.Second)); len(sus) != 0 {
		t.Fatalf("a suspect is probed once, got %v again", sus)
	}
	l.cleared("a~01", t0.Add(3*time.Second)) // it answered the probe
	if !l.alive("a~01", t0.Add(4*time.Second)) {
		t.Fatal("a suspect that answered is alive")
	}
	sus, _ = l.check(t0.Add(6 * time.Second))
	if len(sus) != 1 || !l.declare("a~01") || l.alive("a~01", t0.Add(6*time.Second)) {
		t.Fatal("a suspect that did not answer is dead")
	}
	if h := l.heard("a~01", t0.Add(7*time.Second)); !h.revived || !l.alive("a~01", t0.Add(7*time.Second)) {
		t.Fatal("a node heard again is alive")
	}
	l.reset(t0.Add(10 * time.Second)) // after an outage nobody is condemned for it
	if sus, _ := l.check(t0.Add(11 * time.Second)); len(sus) != 0 {
		t.Fatalf("suspects after reset: %v", sus)
	}
	if !l.alive("me~01", t0.Add(time.Hour)) {
		t.Fatal("self is always alive")
	}
}

func TestIncarnations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLiveness("me~05", 2*time.Second, t0)
	l.heard("a~01", t0)
	// a restarts: its new life supersedes the old one at once.
	h := l.heard("a~02", t0.Add(100*time.Millisecond))
	if !slices.Equal(h.superseded, []string{"a~01"}) {
		t.Fatalf("superseded = %v", h.superseded)
	}
	now := t0.Add(200 * time.Millisecond)
	if l.alive("a~01", now) || !l.alive("a~02", now) {
		t.Fatal("the old life is dead, the new one alive")
	}
	if h := l.heard("a~01", now); !h.stale || l.alive("a~01", now) {
		t.Fatal("a heartbeat of an older life changes nothing")
	}
	if l.alive(nodeOf("a/3"), now) || l.alive("a", now) {
		t.Fatal("an id of an earlier version (no epoch) is older than any life")
	}
	// Earlier lives of this very node are dead from the start.
	if l.alive("me~04", t0) {
		t.Fatal("an earlier life of this node is alive")
	}
	if h := l.heard("me~06", now); !h.usurped {
		t.Fatal("a newer life of this node's id goes unnoticed")
	}
	if n := l.count(now); n != 2 {
		t.Fatalf("count = %d, want 2 (self and a~02)", n)
	}
	l.left("a~02")
	if l.alive("a~02", now) || l.count(now) != 1 {
		t.Fatal("a node that said goodbye is gone")
	}
}
