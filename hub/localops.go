package hub

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/room"
)

// localOps is what Local keeps for operators: member ids, the observer of
// room events and this node's description.
type localOps struct {
	observer   Observer
	nodeInfo   func() NodeInfo
	node       string
	nextMember atomic.Uint64
	now        func() time.Time // nil: time.Now
}

// roomOps is what a room entry keeps about its members beyond their
// sockets: a seat per member, matched by Conn.
type roomOps struct {
	seats     [2]seatMeta
	callStart int64 // unix nanoseconds when the room filled; 0 while waiting
}

type seatMeta struct {
	c         Conn
	id        uint64
	remote    string
	joined    int64 // unix nanoseconds
	resumable bool
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

func (l *Local) now() time.Time {
	if l.ops.now != nil {
		return l.ops.now()
	}
	return time.Now()
}

func (r *roomOps) find(c Conn) int {
	for i := range r.seats {
		if r.seats[i].c == c {
			return i
		}
	}
	return -1
}

func (l *Local) member(s seatMeta) Member {
	return Member{ID: strconv.FormatUint(s.id, 10), Node: l.ops.node, Remote: s.remote,
		JoinedAt: time.Unix(0, s.joined), Resumable: s.resumable}
}

// callMembers are the room's members as listed, oldest first.
func (l *Local) callMembers(e *entry) []Member {
	var ms []Member
	for _, c := range e.room.Members() {
		if i := e.ops.find(c); i >= 0 {
			m := l.member(e.ops.seats[i])
			m.Held = e.isHeld(c)
			ms = append(ms, m)
		}
	}
	return ms
}

func (l *Local) emit(ev Event) {
	if l.ops.observer != nil {
		ev.Node = l.ops.node
		l.ops.observer.RoomEvent(ev)
	}
}

// admittedLocked records a join the room admitted, before its messages go
// out. A repeated join changes nothing. The caller holds the shard lock.
func (l *Local) admittedLocked(k Key, e *entry, c Conn, info JoinInfo) {
	if e.ops.find(c) >= 0 {
		return
	}
	i := e.ops.find(nil)
	if i < 0 {
		panic("hub: room admitted a third member")
	}
	now := l.now()
	s := seatMeta{c: c, id: l.ops.nextMember.Add(1), remote: info.Remote, joined: now.UnixNano(), resumable: info.Resumable && l.grace > 0}
	e.ops.seats[i] = s
	if info.Prelude != nil {
		c.Send(info.Prelude)
	}
	if l.ops.observer == nil {
		if e.room.Len() == 2 {
			e.ops.callStart = s.joined
		}
		return
	}
	m := l.member(s)
	l.emit(Event{Kind: PeerJoined, Key: k, Time: now, Member: m})
	if e.room.Len() == 2 {
		e.ops.callStart = s.joined
		l.emit(Event{Kind: CallStarted, Key: k, Time: now, Member: m, Members: l.callMembers(e), CallStart: now})
	}
}

// leaveLocked takes c out of the room for reason and reports the events;
// it returns the room's messages. The caller holds the shard lock.
func (l *Local) leaveLocked(k Key, e *entry, c Conn, reason Reason) []room.Action[Conn] {
	i := e.ops.find(c)
	var members []Member
	paired := e.room.Len() == 2
	if i >= 0 && paired && l.ops.observer != nil {
		members = l.callMembers(e)
	}
	acts := e.room.Leave(c, reason == ReasonLeft)
	if i < 0 {
		return acts
	}
	s := e.ops.seats[i]
	e.ops.seats[i] = seatMeta{}
	start := e.ops.callStart
	if paired {
		e.ops.callStart = 0
	}
	if l.ops.observer == nil {
		return acts
	}
	now := l.now()
	m := l.member(s)
	l.emit(Event{Kind: PeerLeft, Key: k, Time: now, Member: m, Reason: reason})
	if paired {
		l.emit(Event{Kind: CallEnded, Key: k, Time: now, Member: m, Members: members, Reason: reason, CallStart: time.Unix(0, start)})
	}
	return acts
}

// Snapshot implements Admin: this process holds every room.
func (l *Local) Snapshot(_ context.Context, f Filter) (Snapshot, error) {
	var rooms []RoomInfo
	visit := func(k Key, e *entry) {
		if e != nil && !e.room.Empty() && f.Match(k) {
			ri := RoomInfo{Key: k, Members: l.callMembers(e)}
			if e.ops.callStart != 0 {
				ri.CallStart = time.Unix(0, e.ops.callStart)
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
			if m := e.room.Len(); m > 0 {
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
	id, err := strconv.ParseUint(member, 10, 64)
	if err != nil {
		id = 0 // matches no seat
	}
	sh := l.shard(k)
	sh.mu.Lock()
	e := sh.rooms[k]
	if e == nil || e.room.Empty() {
		sh.mu.Unlock()
		return ErrNoSuchRoom
	}
	var c Conn
	for _, s := range e.ops.seats {
		if s.c != nil && s.id == id {
			c = s.c
		}
	}
	if c == nil {
		sh.mu.Unlock()
		return ErrNoSuchMember
	}
	l.kickLocked(k, e, c, reason, true)
	l.forgetIfEmpty(sh, k, e)
	sh.mu.Unlock()
	return nil
}

// EndRoom implements Admin: every member gets exactly one stop.
func (l *Local) EndRoom(_ context.Context, k Key, reason Reason) (int, error) {
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.rooms[k]
	if e == nil || e.room.Empty() {
		return 0, ErrNoSuchRoom
	}
	members := e.room.Members()
	for i, c := range members {
		// The partner of the first is removed next: it gets its own stop.
		l.kickLocked(k, e, c, reason, i == len(members)-1)
	}
	l.forgetIfEmpty(sh, k, e)
	return len(members), nil
}

// kickLocked takes c out of room k on an operator's order, ending a hold
// it has: c gets stop and leaved with reason, and its partner stop with
// reason unless tellPartner is false (the partner is removed next). The
// caller holds the shard lock; c hears of it through Removable, which must
// not block.
func (l *Local) kickLocked(k Key, e *entry, c Conn, reason Reason, tellPartner bool) {
	if s := e.seatOf(c); s != nil {
		l.unholdLocked(s)
		e.dropSeat(c)
	}
	for _, a := range l.leaveLocked(k, e, c, reason) {
		if a.Kind == room.Stop {
			if tellPartner {
				l.sendLocked(e, a.To, Lend(StopFrame(k.Stream, reason)))
			}
			continue
		}
		l.sendLocked(e, a.To, Lend(Frame(a.Kind, k.Stream)))
	}
	c.Send(StopFrame(k.Stream, reason))
	c.Send(LeavedFrame(k.Stream, reason))
	if r, ok := c.(Removable); ok {
		r.Removed(k)
	}
}
