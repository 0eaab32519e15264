package hub

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/room"
)

// localOps is what Local keeps for operators beyond the rooms: the
// observer of room events, this node's description and the counter that
// names members (room.Seat.Tag).
type localOps struct {
	observer   Observer
	nodeInfo   func() NodeInfo
	node       string
	nextMember atomic.Uint64
}

var (
	_ Admin      = (*Local)(nil)
	_ Observable = (*Local)(nil)
)

// SetObserver implements Observable.
func (l *Local) SetObserver(o Observer) { l.ops.observer = o }

// SetNodeInfo implements Admin. f is called once at once for the node's
// id, then on every listing.
func (l *Local) SetNodeInfo(f func() NodeInfo) {
	l.ops.nodeInfo = f
	l.ops.node = f().ID
}

// MemberOf describes a seat for operators; node names the node holding
// its socket.
func MemberOf[M comparable](s room.Seat[M], id, node string) Member {
	return Member{ID: id, Node: node, Remote: s.Remote, JoinedAt: s.Joined, Resumable: s.Resumable, Peer: s.Peer}
}

func (l *Local) member(s room.Seat[Conn]) Member { return MemberOf(s, s.Tag, l.ops.node) }

// callMembers describes a call's members, oldest first, with their holds.
func (l *Local) callMembers(seats []room.Seat[Conn]) []Member {
	ms := make([]Member, len(seats))
	for i, s := range seats {
		ms[i] = l.member(s)
		ms[i].Held = s.IsHeld()
	}
	return ms
}

// EventOf is the operators' event of a room.Note, if it is one (holds and
// resumes are not: the member never left). member describes a seat.
func EventOf[M comparable](k Key, n room.Note[M], now time.Time, member func(room.Seat[M]) Member) (Event, bool) {
	ev := Event{Key: k, Time: now, Member: member(n.Seat), Reason: n.Reason}
	switch n.Kind {
	case room.NoteJoined:
		ev.Kind, ev.Reason = PeerJoined, 0
	case room.NoteLeft:
		ev.Kind = PeerLeft
	case room.NoteCallStarted, room.NoteCallEnded:
		ev.Kind, ev.CallStart = CallStarted, n.Call
		if n.Kind == room.NoteCallEnded {
			ev.Kind = CallEnded
		}
		for _, s := range n.Members {
			m := member(s)
			m.Held = s.IsHeld()
			ev.Members = append(ev.Members, m)
		}
	default:
		return ev, false
	}
	return ev, true
}

// emitLocked reports note n of room k to the observer. The caller holds
// the shard lock, so that a room's events go out in the order of its
// transitions.
func (l *Local) emitLocked(k Key, n room.Note[Conn], now time.Time) {
	if l.ops.observer == nil {
		return
	}
	if ev, ok := EventOf(k, n, now, l.member); ok {
		ev.Node = l.ops.node
		l.ops.observer.RoomEvent(ev)
	}
}

// Snapshot implements Admin: this process holds every room.
func (l *Local) Snapshot(_ context.Context, f Filter) (Snapshot, error) {
	var rooms []RoomInfo
	visit := func(k Key, e *entry) {
		if e != nil && !e.seats.Empty() && f.Match(k) {
			ri := RoomInfo{Key: k, Members: l.callMembers(e.seats.Members()), CallStart: e.seats.Call()}
			if e.seats.Mesh() {
				ri.MaxPeers = e.seats.Max()
			}
			rooms = append(rooms, ri)
		}
	}
	if f.App != "" && f.Stream != "" {
		k := Key{App: f.App, Stream: f.Stream}
		sh := l.shard(k)
		sh.mu.Lock()
		visit(k, sh.rooms[k])
		sh.mu.Unlock()
	} else {
		for i := range l.shards {
			sh := &l.shards[i]
			sh.mu.Lock()
			for k, e := range sh.rooms {
				visit(k, e)
			}
			sh.mu.Unlock()
		}
	}
	snap := Snapshot{Expected: 1}
	snap.Rooms, snap.Truncated = SortRooms(rooms, f.Limit)
	snap.Nodes = []NodeInfo{l.nodeStats()}
	return snap, nil
}

// nodeStats describes this node: what SetNodeInfo gives, with the rooms
// and members counted here.
func (l *Local) nodeStats() NodeInfo {
	var n NodeInfo
	if l.ops.nodeInfo != nil {
		n = l.ops.nodeInfo()
	}
	n.Rooms, n.Members = 0, 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, e := range sh.rooms {
			if m := e.seats.Len(); m > 0 {
				n.Rooms++
				n.Members += m
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// SortRooms orders rooms by app and room and cuts them to limit (0: no
// limit), reporting whether it cut any.
func SortRooms(rooms []RoomInfo, limit int) ([]RoomInfo, bool) {
	slices.SortFunc(rooms, func(a, b RoomInfo) int {
		if c := strings.Compare(a.Key.App, b.Key.App); c != 0 {
			return c
		}
		return strings.Compare(a.Key.Stream, b.Key.Stream)
	})
	if limit > 0 && len(rooms) > limit {
		return rooms[:limit], true
	}
	return rooms, false
}

// Kick implements Admin.
func (l *Local) Kick(_ context.Context, k Key, member string, reason Reason) error {
	sh := l.shard(k)
	var a after
	sh.mu.Lock()
	defer func() { sh.mu.Unlock(); a.run(l.log) }()
	e := sh.rooms[k]
	if e == nil || e.seats.Empty() {
		return ErrNoSuchRoom
	}
	for _, s := range e.seats.Members() {
		if s.Tag == member {
			st := l.begin(e)
			st.Kick(s.Member, reason, true)
			l.removedLocked(k, e, st, []Conn{s.Member}, &a)
			l.forgetIfEmpty(sh, k, e)
			return nil
		}
	}
	return ErrNoSuchMember
}

// EndRoom implements Admin: every member gets exactly one stop.
func (l *Local) EndRoom(_ context.Context, k Key, reason Reason) (int, error) {
	sh := l.shard(k)
	var a after
	sh.mu.Lock()
	defer func() { sh.mu.Unlock(); a.run(l.log) }()
	e := sh.rooms[k]
	if e == nil || e.seats.Empty() {
		return 0, ErrNoSuchRoom
	}
	st := l.begin(e)
	members := st.End(reason)
	l.removedLocked(k, e, st, members, &a)
	l.forgetIfEmpty(sh, k, e)
	return len(members), nil
}

// removedLocked carries out an operator's removal of members: they hear of
// it through Removable, which must not block. The caller holds the shard
// lock.
func (l *Local) removedLocked(k Key, e *entry, st *room.Step[Conn], members []Conn, a *after) {
	l.applyLocked(k, e, st, nil, a)
	for _, c := range members {
		if r, ok := c.(Removable); ok {
			r.Removed(k)
		}
	}
}
