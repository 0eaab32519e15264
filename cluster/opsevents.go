package cluster

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/duet-rtc/duet/hub"
)

// clusterOps is what a node keeps for operators about its own members
// (their address, join time and partner, for listings and webhooks), the
// observer of room events, and this node's description.
//
// Each room transition is reported by the node whose membership write
// committed it, so each happens once in the cluster: a join by the
// joiner's node; a leave, a kick or a socket's end by the node holding the
// socket; the removal of a dead node's member by the survivor that swept
// it or by the joiner that found it; an eviction by the joiner whose probe
// failed.
type clusterOps struct {
	observer hub.Observer
	nodeInfo func() hub.NodeInfo
	started  time.Time

	mu      sync.Mutex
	seats   map[seatID]*seatMeta // local members' seats
	leaving map[seatID]leaveNote // leaves queued while cut off from NATS
}

type seatID struct {
	member string
	k      hub.Key
}

// seatMeta is one local seat. The partner is tracked with the time it
// appeared, and the one before it, so that a call's start is known after
// the partner has gone.
type seatMeta struct {
	joined    time.Time
	remote    string
	resumable bool
	partner   string
	paired    time.Time
	prev      string
	prevAt    time.Time
}

type leaveNote struct {
	meta   seatMeta
	reason hub.Reason
}

func (s *seatMeta) setPartner(p string, now time.Time) {
	if p == s.partner {
		return
	}
	if s.partner != "" {
		s.prev, s.prevAt = s.partner, s.paired
	}
	s.partner, s.paired = p, now
}

// pairedWith is when the call with partner p began (zero: not known).
func (s *seatMeta) pairedWith(p string) time.Time {
	switch p {
	case s.partner:
		return s.paired
	case s.prev:
		return s.prevAt
	}
	return time.Time{}
}

var _ hub.Observable = (*Cluster)(nil)

// SetObserver implements hub.Observable.
func (c *Cluster) SetObserver(o hub.Observer) { c.ops.observer = o }

func (c *Cluster) emit(ev hub.Event) {
	if c.ops.observer != nil {
		ev.Node = c.id
		c.ops.observer.RoomEvent(ev)
	}
}

// memberInfo describes member id: fully when it is local (meta), else by
// its id and node.
func (c *Cluster) memberInfo(id string, meta *seatMeta) hub.Member {
	node, _ := splitIncarnation(nodeOf(id)) // operators know nodes by node_id
	m := hub.Member{ID: id, Node: node}
	if meta != nil {
		m.Remote, m.JoinedAt, m.Resumable = meta.remote, meta.joined, meta.resumable
	}
	return m
}

// localSeat returns a copy of a local seat's record.
func (c *Cluster) localSeat(id string, k hub.Key) *seatMeta {
	c.ops.mu.Lock()
	defer c.ops.mu.Unlock()
	if s := c.ops.seats[seatID{id, k}]; s != nil {
		cp := *s
		return &cp
	}
	return nil
}

// admitted records a local member's committed join and reports it; it
// queues the join's prelude before joined. The caller holds m.mu.
func (c *Cluster) admitted(k hub.Key, m *member, o outcome, info hub.JoinInfo) {
	if info.Prelude != nil {
		m.conn.Send(info.Prelude)
	}
	now := time.Now()
	meta := &seatMeta{joined: now, remote: info.Remote, resumable: info.Resumable}
	partner, _ := o.r.Partner(m.id)
	meta.setPartner(partner, now)
	var pmeta *seatMeta
	c.ops.mu.Lock()
	c.ops.seats[seatID{m.id, k}] = meta
	if p := c.ops.seats[seatID{partner, k}]; p != nil {
		cp := *p
		pmeta = &cp
	}
	c.ops.mu.Unlock()
	if c.ops.observer == nil || !o.changed {
		return
	}
	me := c.memberInfo(m.id, meta)
	c.emit(hub.Event{Kind: hub.PeerJoined, Key: k, Time: now, Member: me})
	if partner != "" {
		ms := []hub.Member{c.memberInfo(partner, pmeta), me}
		c.emit(hub.Event{Kind: hub.CallStarted, Key: k, Time: now, Member: me, Members: ms, CallStart: now})
	}
}

// partnerChanged follows a local seat's partner as room transitions
// arrive. A partner that resumed on a new socket is the same partner: the
// call goes on, and its start stays. A transition that sends start begins
// a new call, with the same partner too (a restart).
func (c *Cluster) partnerChanged(id string, k hub.Key, partner string, resumed, started bool) {
	c.ops.mu.Lock()
	if s := c.ops.seats[seatID{id, k}]; s != nil {
		switch {
		case resumed && s.partner != "":
			s.partner = partner
		case started && partner == s.partner && partner != "":
			s.prev, s.prevAt, s.paired = partner, s.paired, time.Now()
		default:
			s.setPartner(partner, time.Now())
		}
	}
	c.ops.mu.Unlock()
}

// restartedOps reports local member id's restart of its call in k, which
// write o committed: the call ended (reason restart) and a new one began.
// id stays the same member.
func (c *Cluster) restartedOps(k hub.Key, id string, o outcome) {
	now := time.Now()
	partner, _ := o.r.Partner(id)
	c.ops.mu.Lock()
	meta := c.ops.seats[seatID{id, k}]
	var mine seatMeta
	if meta != nil {
		meta.prev, meta.prevAt, meta.paired = partner, meta.paired, now
		mine = *meta
	}
	c.ops.mu.Unlock()
	if c.ops.observer == nil || meta == nil {
		return
	}
	me := c.memberInfo(id, &mine)
	pm := c.memberInfo(partner, c.localSeat(partner, k))
	c.emit(hub.Event{Kind: hub.CallEnded, Key: k, Time: now, Member: me, Reason: hub.ReasonRestart,
		Members: ordered(pm, me), CallStart: mine.prevAt})
	c.emit(hub.Event{Kind: hub.CallStarted, Key: k, Time: now, Member: me, Members: []hub.Member{pm, me}, CallStart: now})
}

// resumedOps records local member m's seat in k, which it took back: no
// event (the member never left), its join and call start those of the
// seat. It queues the join's prelude before joined. The caller holds m.mu.
func (c *Cluster) resumedOps(k hub.Key, m *member, o outcome, info hub.JoinInfo) {
	if info.Prelude != nil {
		m.conn.Send(info.Prelude)
	}
	v := o.st.val(m.id)
	meta := &seatMeta{joined: since(v.Joined), remote: info.Remote, resumable: v.Resumable}
	if meta.joined.IsZero() {
		meta.joined = time.Now()
	}
	if p, ok := o.r.Partner(m.id); ok {
		meta.partner, meta.paired = p, since(o.st.call)
	}
	c.ops.mu.Lock()
	c.ops.seats[seatID{m.id, k}] = meta
	c.ops.mu.Unlock()
}

// holdOps forgets a local seat without an event: its socket is gone but
// its seat is held (listings then read it from the bucket), or a new
// socket took it back.
func (c *Cluster) holdOps(k hub.Key, id string) {
	c.ops.mu.Lock()
	delete(c.ops.seats, seatID{id, k})
	c.ops.mu.Unlock()
}

// reportHeldGone reports the end of member id's held seat in k, freed by
// this node's write o (its grace ran out, or an operator removed it). The
// member's details and the call's start come from the bucket: its node
// may be gone.
func (c *Cluster) reportHeldGone(k hub.Key, id string, o outcome, reason hub.Reason) {
	if c.ops.observer == nil || !o.changed {
		return
	}
	now := time.Now()
	me := c.storedMember(id, o.was.val(id))
	me.Held = false
	c.emit(hub.Event{Kind: hub.PeerLeft, Key: k, Time: now, Member: me, Reason: reason})
	p, ok := o.was.room.Partner(id)
	if !ok || !o.r.Has(p) {
		return // the room was not full (or both went at once: each report is a leave)
	}
	pm := c.storedMember(p, o.st.val(p))
	if meta := c.localSeat(p, k); meta != nil {
		pm = c.memberInfo(p, meta)
	}
	pm.Held = o.st.held(p) != 0
	members := []hub.Member{pm, me} // oldest first, as the room has them
	if o.was.room.Members()[0] == id {
		members = []hub.Member{me, pm}
	}
	c.emit(hub.Event{Kind: hub.CallEnded, Key: k, Time: now, Member: me, Reason: reason,
		Members: members, CallStart: since(o.was.call)})
}

// left reports a local member's leave once it is written; a leave queued
// while cut off from NATS is reported when recovery writes it.
func (c *Cluster) left(k hub.Key, id string, o outcome, reason hub.Reason, queued bool) {
	sid := seatID{id, k}
	c.ops.mu.Lock()
	meta := c.ops.seats[sid]
	delete(c.ops.seats, sid)
	if queued && meta != nil {
		c.ops.leaving[sid] = leaveNote{*meta, reason}
	}
	c.ops.mu.Unlock()
	if !queued && meta != nil {
		c.reportLeave(k, id, meta, o, reason)
	}
}

// pendingLeft reports a queued leave that recovery has written.
func (c *Cluster) pendingLeft(k hub.Key, id string, o outcome) {
	sid := seatID{id, k}
	c.ops.mu.Lock()
	note, ok := c.ops.leaving[sid]
	delete(c.ops.leaving, sid)
	c.ops.mu.Unlock()
	if ok {
		c.reportLeave(k, id, &note.meta, o, note.reason)
	}
}

// reportLeave reports member id's removal from k, if the write did remove
// it: the node that removed it first is the one that reports.
func (c *Cluster) reportLeave(k hub.Key, id string, meta *seatMeta, o outcome, reason hub.Reason) {
	if c.ops.observer == nil || !o.changed {
		return
	}
	now := time.Now()
	me := c.memberInfo(id, meta)
	c.emit(hub.Event{Kind: hub.PeerLeft, Key: k, Time: now, Member: me, Reason: reason})
	if o.r.Len() != 1 {
		return // the room was not full
	}
	partner := o.r.Members()[0]
	c.emit(hub.Event{Kind: hub.CallEnded, Key: k, Time: now, Member: me, Reason: reason,
		Members:   ordered(c.memberInfo(partner, c.localSeat(partner, k)), me),
		CallStart: meta.pairedWith(partner)})
}

// removedBy reports the removal of member id, usually on another node,
// by this node (a sweep of a dead node's member, an eviction). When the
// call's start is known to neither this node nor its seats, the partner's
// node is asked.
func (c *Cluster) removedBy(k hub.Key, id string, o outcome, reason hub.Reason) {
	if c.ops.observer == nil || !o.changed {
		return
	}
	sid := seatID{id, k}
	c.ops.mu.Lock()
	meta := c.ops.seats[sid]
	delete(c.ops.seats, sid)
	c.ops.mu.Unlock()
	if meta != nil { // a local socket that failed a probe: report with its details
		c.reportLeave(k, id, meta, o, reason)
		return
	}
	c.reportRemote(k, id, o.r.Members(), reason, true)
}

// joinEvicted reports the members of dead nodes that joiner's join
// removed in the same write.
func (c *Cluster) joinEvicted(k hub.Key, joiner string, evicted []string, o outcome) {
	if c.ops.observer == nil || len(evicted) == 0 {
		return
	}
	var stayed []string
	for _, id := range o.r.Members() {
		if id != joiner {
			stayed = append(stayed, id)
		}
	}
	// The write removed the evicted members one after the other from
	// the room as it was (stayed and evicted), then added the joiner.
	for i, id := range evicted {
		rest := slices.Concat(stayed, evicted[i+1:])
		c.reportRemote(k, id, rest, hub.ReasonNodeFailure, len(rest) == 1)
	}
}

// reportRemote reports the removal of a member this node did not hold;
// stayed is the member left in the room (if any) and full whether the
// room was full before. The call's start comes from the partner's seat,
// here or on its node.
func (c *Cluster) reportRemote(k hub.Key, id string, stayed []string, reason hub.Reason, full bool) {
	now := time.Now()
	me := c.memberInfo(id, nil)
	c.emit(hub.Event{Kind: hub.PeerLeft, Key: k, Time: now, Member: me, Reason: reason})
	if !full || len(stayed) != 1 {
		return
	}
	partner := stayed[0]
	ev := hub.Event{Kind: hub.CallEnded, Key: k, Time: now, Member: me, Reason: reason}
	if meta := c.localSeat(partner, k); meta != nil {
		ev.Members = ordered(c.memberInfo(partner, meta), me)
		ev.CallStart = meta.pairedWith(id)
		c.emit(ev)
		return
	}
	// Ask the partner's node, off this goroutine: it may be a sweep.
	c.spawn(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.opt.OpTimeout)
		defer cancel()
		pm, start := c.askCallStart(ctx, k, partner, id)
		ev.Members = ordered(pm, me)
		ev.CallStart = start
		c.emit(ev)
	})
}

// ordered lists a call's two members oldest first.
func ordered(a, b hub.Member) []hub.Member {
	if !b.JoinedAt.IsZero() && (a.JoinedAt.IsZero() || b.JoinedAt.Before(a.JoinedAt)) {
		return []hub.Member{b, a}
	}
	return []hub.Member{a, b}
}
