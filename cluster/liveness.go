package cluster

import (
	"sync"
	"time"
)

// liveness is this node's view of which nodes are alive, built from the
// heartbeats every node publishes. There is no leader: every node judges
// for itself, and every decision taken on it (removing a dead node's
// members) goes through compare-and-set on the membership bucket, so two
// survivors acting on the same death cannot conflict.
type liveness struct {
	self      string
	deadAfter time.Duration

	mu    sync.Mutex
	since time.Time            // start or last reconnect: nodes not heard yet get this much grace
	seen  map[string]time.Time // last heartbeat per node
	dead  map[string]bool      // nodes already declared dead (and swept)
	grace bool                 // the grace period after since has not been checked yet
}

func newLiveness(self string, deadAfter time.Duration, now time.Time) *liveness {
	return &liveness{self: self, deadAfter: deadAfter, since: now, grace: true,
		seen: map[string]time.Time{}, dead: map[string]bool{}}
}

// heard records a heartbeat. It reports whether the node had been declared
// dead: it came back (a network partition healed).
func (l *liveness) heard(id string, now time.Time) (revived bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[id] = now
	revived = l.dead[id]
	delete(l.dead, id)
	return revived
}

// alive reports whether members on node id should be treated as reachable.
// A node never heard from is alive during the grace period, so that a node
// that has just started or reconnected does not condemn the others before
// their first heartbeat reaches it.
func (l *liveness) alive(id string, now time.Time) bool {
	if id == l.self {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead[id] {
		return false
	}
	t, ok := l.seen[id]
	if !ok {
		t = l.since
	}
	return now.Sub(t) < l.deadAfter
}

// check declares dead the nodes silent for longer than deadAfter and
// returns them. sweep is true when something may have died since the last
// check: a node was declared dead or the grace period for unknown nodes
// has just ended.
func (l *liveness) check(now time.Time) (died []string, sweep bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, t := range l.seen {
		if !l.dead[id] && now.Sub(t) >= l.deadAfter {
			l.dead[id] = true
			died = append(died, id)
		}
	}
	if l.grace && now.Sub(l.since) >= l.deadAfter {
		l.grace = false
		sweep = true
	}
	return died, sweep || len(died) > 0
}

// reset restarts the clock after this node was cut off from NATS: silence
// while we could not hear anyone says nothing about the others.
func (l *liveness) reset(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.since, l.grace = now, true
	for id := range l.seen {
		if !l.dead[id] {
			l.seen[id] = now
		}
	}
}

// count is the number of nodes believed alive, this one included.
func (l *liveness) count(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 1
	for id, t := range l.seen {
		if id != l.self && !l.dead[id] && now.Sub(t) < l.deadAfter {
			n++
		}
	}
	return n
}
