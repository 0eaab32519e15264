package hub

import (
	"time"

	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

// RelayPeer implements Mesher. A frame for a held member is kept in its
// seat (room.Seats.KeepFor); one that does not fit ends the hold as if
// its grace had run out.
func (l *Local) RelayPeer(c Conn, k Key, peer string, frame Loan) error {
	sh := l.shard(k)
	sh.mu.Lock()
	e := sh.rooms[k]
	if e == nil {
		sh.mu.Unlock()
		return protocol.ErrNoPeerAssociated
	}
	if !e.seats.Mesh() {
		sh.mu.Unlock()
		return l.Relay(c, k, frame)
	}
	to, from, ok := e.seats.RouteTo(c, peer)
	if !ok {
		sh.mu.Unlock()
		return protocol.ErrNoPeerAssociated
	}
	f := protocol.WithPeer(frame.Clone(), from)
	if !to.IsHeld() {
		to.Member.Send(f)
		sh.mu.Unlock()
		return nil
	}
	if e.seats.KeepFor(to, from, f, l.rules.KeepLimit()-meshJoinedReserve, l.caps.Keep) {
		sh.mu.Unlock()
		return nil
	}
	var a after
	st := l.begin(e)
	st.Expire(to.Member, time.Time{}, true)
	a.logf("held seat given up: too much to keep for it", "app", k.App, "stream", k.Stream, "hold_bytes", l.rules.KeepLimit())
	l.applyLocked(k, e, st, nil, &a)
	l.forgetIfEmpty(sh, k, e)
	sh.mu.Unlock()
	a.run(l.log)
	return nil
}

// meshJoinedReserve is what a resumed joined in a mesh room may need in
// the socket's send queue beyond a room of two's (its list of members),
// kept free of held frames so that delivering them never overflows it.
const meshJoinedReserve = 2048

// countMesh keeps Stats.MeshMembers: a seat with a mesh id joined or
// left a mesh room.
func (l *Local) countMesh(n room.Note[Conn]) {
	if n.Seat.Peer == "" {
		return
	}
	switch n.Kind {
	case room.NoteJoined:
		l.mesh.Add(1)
	case room.NoteLeft:
		l.mesh.Add(-1)
	}
}
