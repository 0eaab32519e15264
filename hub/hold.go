package hub

import (
	"time"

	"github.com/duet-rtc/duet/room"
)

// Held seats. The rules (which leaves hold a seat, what is kept for it,
// how a token takes it back) are room.Seats'; Local gives each held seat a
// timer that ends its grace, counts it in HoldCaps while it lasts, and
// drops the old socket of a seat taken back while it was still open.

// noteLocked carries out one note of a transition of room k. The caller
// holds the shard's lock.
func (l *Local) noteLocked(k Key, e *entry, n room.Note[Conn], now time.Time, a *after) {
	l.countMesh(n)
	switch n.Kind {
	case room.NoteJoined:
		TellSeated(n.Seat.Member, k, n.Seat.Tag, false)
	case room.NoteHeld:
		l.held.Add(1)
		m, until := n.Seat.Member, n.Seat.Held
		e.setTimer(m, l.clock.AfterFunc(until.Sub(now), func() { l.expire(k, e, m, until) }))
		a.logf("holding seat", "app", k.App, "stream", k.Stream, "grace", l.rules.Grace)
	case room.NoteResumed:
		l.resumes.Add(1)
		TellSeated(n.Seat.Member, k, n.Seat.Tag, true)
		if n.Prev.IsHeld() {
			l.unholdLocked(e, n.Prev)
		} else {
			// Half-open: the old socket is dropped without a room
			// transition; its cleanup finds it in no seat here.
			a.kills = append(a.kills, kill{n.Prev.Member, "its seat was resumed by a new socket"})
		}
		a.logf("seat resumed", "app", k.App, "stream", k.Stream, "remote", n.Seat.Remote, "half_open", n.Live, "kept", len(n.Prev.Kept))
	case room.NoteLeft:
		if n.Seat.IsHeld() {
			l.unholdLocked(e, n.Seat)
			if n.Reason == ReasonTimeout {
				l.expiries.Add(1)
				a.logf("held seat expired", "app", k.App, "stream", k.Stream, "grace", l.rules.Grace)
			}
		}
		if n.Reason == ReasonEvicted {
			l.evictions.Add(1)
			a.kills = append(a.kills, kill{n.Seat.Member, "no answer to liveness probe"})
			a.logf("evicted unresponsive member", "app", k.App, "stream", k.Stream)
		}
	}
	l.emitLocked(k, n, now)
}

// unholdLocked ends the hold of seat s (as it was): its timer stops and
// its place in HoldCaps is given back.
func (l *Local) unholdLocked(e *entry, s room.Seat[Conn]) {
	for i := range e.timers {
		if t := &e.timers[i]; t.stop != nil && t.member == s.Member {
			t.stop()
			*t = holdTimer{}
		}
	}
	l.caps.Release(s.Addr)
	l.held.Add(-1)
}

func (e *entry) setTimer(m Conn, stop func() bool) {
	for i := range e.timers {
		if e.timers[i].stop == nil {
			e.timers[i] = holdTimer{m, stop}
			return
		}
	}
	e.timers = append(e.timers, holdTimer{m, stop})
}

// expire runs when the hold of member m in k's entry e, until the
// deadline until, reaches the end of its grace: the seat is given up and
// the partner gets stop, reason timeout (unless a resume or a later hold
// came first).
func (l *Local) expire(k Key, e *entry, m Conn, until time.Time) {
	sh := l.shard(k)
	var a after
	sh.mu.Lock()
	if sh.rooms[k] == e {
		st := l.begin(e)
		st.Expire(m, until, true)
		l.applyLocked(k, e, st, nil, &a)
		l.forgetIfEmpty(sh, k, e)
	}
	sh.mu.Unlock()
	a.run(l.log)
}

// Close ends every hold as if its grace had run out and holds no more
// seats: call it once the sockets are gone (after a drain), so that no
// timer outlives the backend.
func (l *Local) Close() {
	l.closed.Store(true)
	for i := range l.shards {
		sh := &l.shards[i]
		var a after
		sh.mu.Lock()
		for k, e := range sh.rooms {
			st := l.begin(e)
			for _, s := range e.seats.Members() {
				st.Expire(s.Member, time.Time{}, true)
			}
			l.applyLocked(k, e, st, nil, &a)
			l.forgetIfEmpty(sh, k, e)
		}
		sh.mu.Unlock()
		a.run(l.log)
	}
}
