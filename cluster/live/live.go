// Package live is a cluster node's view of which incarnations of the
// other nodes are alive, built from the heartbeats every node publishes.
// It does no I/O: the node feeds it what it hears and asks it whom to
// probe, whom to trust and whom to bury.
package live

import (
	"sync"
	"time"
)

// View is this node's view of which incarnations are alive. There is no
// leader: every node
// judges for itself, and every decision taken on it (removing a dead
// node's members) goes through compare-and-set on the membership bucket,
// so two survivors acting on the same death cannot conflict.
//
// Silence alone does not kill: an incarnation silent for deadAfter is only
// suspect, and the caller probes it directly before declaring it dead
// (Declare) or clearing it (Cleared). An incarnation is also dead when a
// newer one of the same node id is heard (it was restarted) and when it
// said goodbye (Left).
//
// Lock order: mu is a leaf.
type View struct {
	self      string // this incarnation
	selfNode  string
	deadAfter time.Duration

	mu      sync.Mutex
	since   time.Time            // start or last reconnect: incarnations not heard yet get this much grace
	seen    map[string]time.Time // last heartbeat per live incarnation
	dead    map[string]bool      // declared dead after silence: it may come back
	buried  map[string]bool      // superseded by a newer life, or departed: it never comes back
	latest  map[string]string    // newest epoch heard per node id
	probing map[string]bool      // suspects being probed
	grace   bool                 // the grace period after since has not been checked yet
}

// New returns the view of incarnation self, started at now: an
// incarnation silent for deadAfter is suspect.
func New(self string, deadAfter time.Duration, now time.Time) *View {
	node, epoch := Split(self)
	return &View{self: self, selfNode: node, deadAfter: deadAfter, since: now, grace: true,
		seen: map[string]time.Time{}, dead: map[string]bool{}, buried: map[string]bool{}, latest: map[string]string{node: epoch},
		probing: map[string]bool{}}
}

// Heartbeat is what Heard learnt from one heartbeat.
type Heartbeat struct {
	Revived    bool     // the incarnation had been declared dead: it came back (a partition healed)
	Superseded []string // older incarnations of its node, dead from now on (it was restarted)
	Stale      bool     // a newer incarnation of its node is known: ignored
	Late       bool     // it came more than half of deadAfter after the previous one
	Usurped    bool     // a newer process runs with this node's id
}

// Heard records a heartbeat of incarnation inc.
func (l *View) Heard(inc string, now time.Time) Heartbeat {
	l.mu.Lock()
	defer l.mu.Unlock()
	var h Heartbeat
	node, epoch := Split(inc)
	if cur, ok := l.latest[node]; ok && cur != epoch {
		if !Newer(epoch, cur) {
			h.Stale = true
			return h
		}
		if node != l.selfNode {
			for old := range l.seen {
				if n, _ := Split(old); n == node {
					l.bury(old)
					h.Superseded = append(h.Superseded, old)
				}
			}
		}
	}
	if node == l.selfNode {
		h.Usurped = inc != l.self
		return h
	}
	l.latest[node] = epoch
	if t, ok := l.seen[inc]; ok && now.Sub(t) > l.deadAfter/2 {
		h.Late = true
	}
	l.seen[inc] = now
	if l.buried[inc] {
		h.Stale = true // it said goodbye; a late heartbeat changes nothing
		return h
	}
	h.Revived = l.dead[inc]
	delete(l.dead, inc)
	delete(l.probing, inc)
	return h
}

func (l *View) bury(inc string) {
	delete(l.seen, inc)
	delete(l.probing, inc)
	delete(l.dead, inc)
	l.buried[inc] = true
}

// Alive reports whether members of incarnation inc should be treated as
// reachable. An incarnation never heard from is alive during the grace
// period, so that a node that has just started or reconnected does not
// condemn the others before their first heartbeat reaches it; an earlier
// life of this very node never is.
func (l *View) Alive(inc string, now time.Time) bool {
	if inc == l.self {
		return true
	}
	node, epoch := Split(inc)
	if node == l.selfNode {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead[inc] || l.buried[inc] {
		return false
	}
	if cur, ok := l.latest[node]; ok && Newer(cur, epoch) {
		return false
	}
	t, ok := l.seen[inc]
	if !ok {
		t = l.since
	}
	return l.probing[inc] || now.Sub(t) < l.deadAfter
}

// Gone reports whether incarnation inc was declared dead, restarted or
// left: unlike silence, which may only mean that this node is cut off.
func (l *View) Gone(inc string) bool {
	if inc == l.self {
		return false
	}
	node, epoch := Split(inc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead[inc] || l.buried[inc] {
		return true
	}
	cur, ok := l.latest[node]
	return ok && Newer(cur, epoch)
}

// Final reports whether incarnation inc can never come back: an earlier
// life of a node (this one included) or one that said goodbye. A node
// declared dead after silence may still come back (a partition heals).
func (l *View) Final(inc string) bool {
	if inc == l.self {
		return false
	}
	node, epoch := Split(inc)
	if node == l.selfNode {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, ok := l.latest[node]
	return l.buried[inc] || ok && Newer(cur, epoch)
}

// Check returns the incarnations silent for longer than deadAfter that are
// not being probed yet: the caller probes them. sweep is true when the
// grace period for unknown incarnations has just ended.
func (l *View) Check(now time.Time) (suspects []string, sweep bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for inc, t := range l.seen {
		if !l.dead[inc] && !l.probing[inc] && now.Sub(t) >= l.deadAfter {
			l.probing[inc] = true
			suspects = append(suspects, inc)
		}
	}
	if l.grace && now.Sub(l.since) >= l.deadAfter {
		l.grace = false
		sweep = true
	}
	return suspects, sweep
}

// Declare makes a suspect dead; it reports false when a heartbeat came
// meanwhile (the suspect is alive after all).
func (l *View) Declare(inc string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.probing[inc] {
		return false
	}
	delete(l.probing, inc)
	l.dead[inc] = true
	return true
}

// Cleared ends a suspect's probe: it answered, or this node could not
// tell. Its silence counts from now.
func (l *View) Cleared(inc string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.probing[inc] {
		delete(l.probing, inc)
		l.seen[inc] = now
	}
}

// Left records a goodbye: the incarnation is gone without having died.
func (l *View) Left(inc string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bury(inc)
}

// Reset restarts the clock after this node was cut off from NATS: silence
// while we could not hear anyone says nothing about the others.
func (l *View) Reset(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.since, l.grace = now, true
	for inc := range l.seen {
		if !l.dead[inc] {
			l.seen[inc] = now
		}
	}
}

// Count is the number of incarnations believed alive, this one included.
func (l *View) Count(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 1
	for inc, t := range l.seen {
		if inc != l.self && !l.dead[inc] && (l.probing[inc] || now.Sub(t) < l.deadAfter) {
			n++
		}
	}
	return n
}

// Settled reports whether the grace for incarnations not heard yet is
// over: then the ones counted alive are all there are.
func (l *View) Settled(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.Sub(l.since) >= l.deadAfter
}
