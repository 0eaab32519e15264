package hub

import (
	"time"

	"github.com/duet-rtc/duet/room"
)

// restartLocked starts member c's call in room k over (room.Room.Restart):
// its partner gets stop with reason restart, c gets joined (a fresh
// resume token, as every joined), then the partner start, and offers. c
// stays the same member; operators see the call end (reason restart) and
// a new one start. The caller holds the shard lock.
//
// What was kept for a held partner belonged to the negotiation c gave up
// (its offer, its candidates): delivered after the partner's return, it
// would answer a peer connection that no longer exists. It is dropped; the
// partner finds the stop and the start instead.
func (l *Local) restartLocked(sh *shard, k Key, e *entry, c Conn, info JoinInfo) {
	if p, ok := e.room.Partner(c); ok {
		if s := e.seatOf(p); s != nil && s.hold != nil && !s.hold.overflow {
			l.caps.Unkeep(s.hold.bytes)
			s.hold.frames, s.hold.bytes = nil, 0
		}
	}
	before := l.callMembers(e)
	_, acts := e.room.Restart(c)
	l.restartedOpsLocked(k, e, c, before)
	n := 0
	for n < len(acts) && acts[n].Kind == room.Stop {
		n++
	}
	l.deliverLocked(k, e, acts[:n], delivery{reason: ReasonRestart})
	l.admitLocked(sh, k, e, c, info, acts[n:])
}

// restartedOpsLocked reports a restarted call: the call with the members
// before (oldest first) ended, and a new one started now. The caller
// holds the shard lock.
func (l *Local) restartedOpsLocked(k Key, e *entry, c Conn, before []Member) {
	now := l.now()
	start := e.ops.callStart
	e.ops.callStart = now.UnixNano()
	i := e.ops.find(c)
	if l.ops.observer == nil || i < 0 {
		return
	}
	m := l.member(e.ops.seats[i])
	l.emit(Event{Kind: CallEnded, Key: k, Time: now, Member: m, Members: before, Reason: ReasonRestart, CallStart: time.Unix(0, start)})
	l.emit(Event{Kind: CallStarted, Key: k, Time: now, Member: m, Members: l.callMembers(e), CallStart: now})
}
