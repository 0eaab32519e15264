package cluster

import (
	"sync"
	"time"
)

// liveness is this node's view of which incarnations are alive, built from
// the heartbeats every node publishes. There is no leader: every node
// judges for itself, and every decision taken on it (removing a dead
// node's members) goes through compare-and-set on the membership bucket,
// so two survivors acting on the same death cannot conflict.
//
// Silence alone does not kill: an incarnation silent for deadAfter is only
// suspect, and the caller probes it directly before declaring it dead
// (declare) or clearing it (cleared). An incarnation is also dead when a
// newer one of the same node id is heard (it was restarted) and when it
// said goodbye (left).
type liveness struct {
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

func newLiveness(self string, deadAfter time.Duration, now time.Time) *liveness {
	node, epoch := splitIncarnation(self)
	return &liveness{self: self, selfNode: node, deadAfter: deadAfter, since: now, grace: true,
		seen: map[string]time.Time{}, dead: map[string]bool{}, buried: map[string]bool{}, latest: map[string]string{node: epoch},
		probing: map[string]bool{}}
}

// heartbeat is what heard learnt from one heartbeat.
type heartbeat struct {
	revived    bool     // the incarnation had been declared dead: it came back (a partition healed)
	superseded []string // older incarnations of its node, dead from now on (it was restarted)
	stale      bool     // a newer incarnation of its node is known: ignored
	late       bool     // it came more than half of deadAfter after the previous one
	usurped    bool     // a newer process runs with this node's id
}

// heard records a heartbeat of incarnation inc.
func (l *liveness) heard(inc string, now time.Time) heartbeat {
	l.mu.Lock()
	defer l.mu.Unlock()
	var h heartbeat
	node, epoch := splitIncarnation(inc)
	if cur, ok := l.latest[node]; ok && cur != epoch {
		if !newerEpoch(epoch, cur) {
			h.stale = true
			return h
		}
		if node != l.selfNode {
			for old := range l.seen {
				if n, _ := splitIncarnation(old); n == node {
					l.bury(old)
					h.superseded = append(h.superseded, old)
				}
			}
		}
	}
	if node == l.selfNode {
		h.usurped = inc != l.self
		return h
	}
	l.latest[node] = epoch
	if t, ok := l.seen[inc]; ok && now.Sub(t) > l.deadAfter/2 {
		h.late = true
	}
	l.seen[inc] = now
	if l.buried[inc] {
		h.stale = true // it said goodbye; a late heartbeat changes nothing
		return h
	}
	h.revived = l.dead[inc]
	delete(l.dead, inc)
	delete(l.probing, inc)
	return h
}

func (l *liveness) bury(inc string) {
	delete(l.seen, inc)
	delete(l.probing, inc)
	delete(l.dead, inc)
	l.buried[inc] = true
}

// alive reports whether members of incarnation inc should be treated as
// reachable. An incarnation never heard from is alive during the grace
// period, so that a node that has just started or reconnected does not
// condemn the others before their first heartbeat reaches it; an earlier
// life of this very node never is.
func (l *liveness) alive(inc string, now time.Time) bool {
	if inc == l.self {
		return true
	}
	node, epoch := splitIncarnation(inc)
	if node == l.selfNode {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead[inc] || l.buried[inc] {
		return false
	}
	if cur, ok := l.latest[node]; ok && newerEpoch(cur, epoch) {
		return false
	}
	t, ok := l.seen[inc]
	if !ok {
		t = l.since
	}
	return l.probing[inc] || now.Sub(t) < l.deadAfter
}

// gone reports whether incarnation inc was declared dead, restarted or
// left: unlike silence, which may only mean that this node is cut off.
func (l *liveness) gone(inc string) bool {
	if inc == l.self {
		return false
	}
	node, epoch := splitIncarnation(inc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead[inc] || l.buried[inc] {
		return true
	}
	cur, ok := l.latest[node]
	return ok && newerEpoch(cur, epoch)
}

// final reports whether incarnation inc can never come back: an earlier
// life of a node (this one included) or one that said goodbye. A node
// declared dead after silence may still come back (a partition heals).
func (l *liveness) final(inc string) bool {
	if inc == l.self {
		return false
	}
	node, epoch := splitIncarnation(inc)
	if node == l.selfNode {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, ok := l.latest[node]
	return l.buried[inc] || ok && newerEpoch(cur, epoch)
}

// check returns the incarnations silent for longer than deadAfter that are
// not being probed yet: the caller probes them. sweep is true when the
// grace period for unknown incarnations has just ended.
func (l *liveness) check(now time.Time) (suspects []string, sweep bool) {
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

// declare makes a suspect dead; it reports false when a heartbeat came
// meanwhile (the suspect is alive after all).
func (l *liveness) declare(inc string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.probing[inc] {
		return false
	}
	delete(l.probing, inc)
	l.dead[inc] = true
	return true
}

// cleared ends a suspect's probe: it answered, or this node could not
// tell. Its silence counts from now.
func (l *liveness) cleared(inc string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.probing[inc] {
		delete(l.probing, inc)
		l.seen[inc] = now
	}
}

// left records a goodbye: the incarnation is gone without having died.
func (l *liveness) left(inc string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bury(inc)
}

// reset restarts the clock after this node was cut off from NATS: silence
// while we could not hear anyone says nothing about the others.
func (l *liveness) reset(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.since, l.grace = now, true
	for inc := range l.seen {
		if !l.dead[inc] {
			l.seen[inc] = now
		}
	}
}

// count is the number of incarnations believed alive, this one included.
func (l *liveness) count(now time.Time) int {
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
