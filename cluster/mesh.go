package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

// Mesh rooms (room/mesh.go) in a cluster. The room and its rules are the
// same room.Seats as on one node, stored like a room of two's (value.go:
// its limit, its ids, and what is kept for held seats). What differs is
// how a transition reaches the members and how relays find their member:
//
//   - a transition's messages for a member travel encoded, in one event
//     per member with the room's members afterwards (meshwire.go); the
//     member's node applies events in revision order like a room of two's,
//     and keeps the members as the member's view (meshSeat);
//   - a relay names a member by id: the sender's node looks it up in its
//     view and sends the frame on the link to that member's node, as a
//     room of two's partner;
//   - a frame for a member whose seat is held is kept in the room's value
//     (room.Seats.KeepFor, by compare-and-set), in order with the room
//     messages kept for it, and its resumed joined brings them, wherever it
//     resumes. A frame that reaches the node of a seat held meanwhile goes
//     back to the sender's node (sendBack), which keeps it so.

var _ hub.Mesher = (*Cluster)(nil)

// meshSeat is a local member's view of its mesh room.
type meshSeat struct {
	self  string     // its own id
	max   int        // the room's limit
	peers []meshPeer // the other members, oldest first
}

func (v *meshSeat) byID(id string) (meshPeer, bool) {
	for _, p := range v.peers {
		if p.id == id {
			return p, true
		}
	}
	return meshPeer{}, false
}

func (v *meshSeat) byMember(member string) (meshPeer, bool) {
	for _, p := range v.peers {
		if p.member == member {
			return p, true
		}
	}
	return meshPeer{}, false
}

// meshPeers is the members of mesh room s, oldest first.
func meshPeers(s *seats) []meshPeer {
	ms := s.Members()
	out := make([]meshPeer, len(ms))
	for i, st := range ms {
		out[i] = meshPeer{id: st.Peer, member: st.Member, held: st.IsHeld()}
	}
	return out
}

// setMeshLocked sets s's view of its room from the members afterwards
// (all of them, self included). The caller holds the member's lock.
func setMeshLocked(m *member, s *seat, max int, all []meshPeer) {
	v := &meshSeat{self: s.own.Peer, max: max}
	if s.mesh != nil {
		v.self, v.max = s.mesh.self, s.mesh.max
	}
	for _, p := range all {
		if p.member == m.id {
			v.self = p.id
			continue
		}
		v.peers = append(v.peers, p)
	}
	s.mesh, s.partner = v, ""
	switch {
	case len(v.peers) == 0:
		s.paired = time.Time{}
	case s.paired.IsZero():
		s.paired = time.Now()
	}
}

// settleMeshLocked is settleLocked in a mesh room.
func (c *Cluster) settleMeshLocked(m *member, s *seat, o outcome) {
	s.rev = o.rev
	if own := o.after.Seat(m.id); own != nil {
		s.own = *own
		s.own.Kept, s.own.Frames = nil, room.Keep{}
	}
	c.endKeepLocked(s)
	s.paired = o.after.Call()
	setMeshLocked(m, s, o.after.Max(), meshPeers(&o.after))
}

// applyMeshLocked is applyLocked for a mesh room's event.
func (c *Cluster) applyMeshLocked(m *member, s *seat, ev event) {
	s.rev = ev.rev
	max := 0
	if s.mesh != nil {
		max = s.mesh.max
	}
	setMeshLocked(m, s, max, ev.peers)
	for _, f := range ev.frames {
		m.conn.Send(f)
	}
}

// isMesh reports whether transition o is a mesh room's.
func (o *outcome) isMesh() bool { return o.was.Mesh() || o.after.Mesh() }

// deliverMesh is deliver in a mesh room: every live member, and every
// member a message is for, gets its messages, encoded, and the members.
func (c *Cluster) deliverMesh(k hub.Key, o outcome, self string) {
	frames := map[string][][]byte{}
	var targets []string
	for _, st := range o.after.Members() {
		if !st.IsHeld() {
			targets = append(targets, st.Member)
			frames[st.Member] = nil
		}
	}
	for _, msg := range o.step.Msgs {
		if msg.Kind == room.Prelude || msg.Kind == room.Frame {
			continue // the joiner's own (sendOwn)
		}
		if _, ok := frames[msg.To]; !ok {
			targets = append(targets, msg.To)
		}
		frames[msg.To] = append(frames[msg.To], hub.Encode(k.Stream, msg, c.opt.ReconnectGrace, nil))
	}
	peers := meshPeers(&o.after)
	for _, to := range targets {
		if to != self {
			c.sendEvent(to, k, event{prev: o.prev, rev: o.rev, mesh: true, peers: peers, frames: frames[to]})
		}
	}
}

// Bounds of what a mesh room's value keeps for held seats: it travels
// with every write of the room, and NATS bounds a value (1 MiB unless
// configured).
const (
	meshKeepSeat = 64 << 10  // per held seat, frames and room messages
	meshKeepRoom = 256 << 10 // all held seats of the room (base64 in the value)
)

// meshKeepLimit bounds what one held seat keeps: a room of two's bound
// less the longer joined's reserve, within meshKeepSeat.
func (c *Cluster) meshKeepLimit() int {
	return min(c.rules.KeepLimit()-meshJoinedReserve, meshKeepSeat)
}

// meshJoinedReserve is what a resumed joined in a mesh room may need in
// the socket's send queue beyond a room of two's (hub's reserve too).
const meshJoinedReserve = 2048

var (
	errPeerLive = errors.New("cluster: the member's seat is live")
	errNoPeer   = errors.New("cluster: no such member")
)

// RelayPeer implements hub.Mesher: frame goes to the member with id peer,
// naming its sender; in a room of two it is Relay.
func (c *Cluster) RelayPeer(conn hub.Conn, k hub.Key, peer string, frame hub.Loan) error {
	m := c.member(conn, false)
	if m == nil {
		return protocol.ErrNoPeerAssociated
	}
	m.mu.Lock()
	s := m.seats[k]
	if s == nil || s.joining {
		m.mu.Unlock()
		return protocol.ErrNoPeerAssociated
	}
	if s.mesh == nil {
		m.mu.Unlock()
		return c.Relay(conn, k, frame)
	}
	p, ok := s.mesh.byID(peer)
	if !ok {
		m.mu.Unlock()
		return protocol.ErrNoPeerAssociated
	}
	f := protocol.WithPeer(frame.Clone(), s.mesh.self)
	if p.held {
		m.mu.Unlock()
		c.keepMesh(m, k, peer, f)
		return nil
	}
	c.unlockSendMesh(m, k, p.member, f)
	return nil
}

// unlockSendMesh sends frame f (its own copy) from m to member to, after
// the frames m's outbox still holds, and releases m.mu, which the caller
// holds.
func (c *Cluster) unlockSendMesh(m *member, k hub.Key, to string, f []byte) {
	inc, num, ok := splitMember(to)
	if !ok {
		m.mu.Unlock()
		return
	}
	if inc != c.inc && (m.flushing || len(m.outbox) > 0) {
		m.outbox = append(m.outbox, outFrame{inc, num, k, f})
		c.unlockFlush(m)
		return
	}
	m.mu.Unlock()
	if inc == c.inc {
		c.deliverFrame(num, m.id, k, hub.Lend(f))
		return
	}
	c.publishFrame(m, inc, num, k, hub.Lend(f))
}

// keepMesh keeps frame f (with its peer field) from local member m for
// the member with id peer, whose seat is held, in the room's value. If
// the seat is live again the frame goes to it; if it does not fit, the
// hold ends now, as on one node.
func (c *Cluster) keepMesh(m *member, k hub.Key, peer string, f []byte) {
	var live string
	o, err := c.transact(context.Background(), k, func(t *txn) error {
		to, from, ok := t.s.RouteTo(m.id, peer)
		switch {
		case !ok:
			return errNoPeer
		case !to.IsHeld():
			live = to.Member
			return errPeerLive
		}
		if !t.s.KeepFor(to, from, f, c.meshKeepLimit(), roomBudget(t.s)) {
			t.Expire(to.Member, time.Time{}, true)
		}
		return nil
	})
	switch {
	case errors.Is(err, errPeerLive):
		m.mu.Lock()
		c.unlockSendMesh(m, k, live, f)
	case errors.Is(err, errNoPeer):
	case err != nil:
		c.log.Warn("frame for a held seat not kept", "app", k.App, "stream", k.Stream, "err", err)
		relayFailed(m, k)
	default:
		c.deliver(k, o, "")
		c.effects(k, o)
	}
}

// roomBudget bounds the frames all held seats of s keep together.
func roomBudget(s *seats) func(n int) bool {
	return func(n int) bool {
		total := n
		for _, st := range s.Members() {
			for _, kp := range st.Kept {
				total += len(kp.Frame)
			}
		}
		return total <= meshKeepRoom
	}
}

// onBackMesh keeps a frame of local member m's that reached the node of
// member held after its seat was held there (sendBack).
func (c *Cluster) onBackMesh(m *member, k hub.Key, s *seat, held string, frame hub.Loan) {
	p, ok := s.mesh.byMember(held)
	if !ok {
		return // the seat was taken back or given up meanwhile
	}
	f := frame.Clone()
	c.spawn(func() { c.keepMesh(m, k, p.id, f) })
}

// meshKnows reports whether member from is in mesh seat s's view, or in
// a transition that waits to be applied (its frames may overtake it).
func (s *seat) meshKnows(from string) bool {
	if s.mesh == nil {
		return false
	}
	if _, ok := s.mesh.byMember(from); ok {
		return true
	}
	for _, ev := range s.pending {
		for _, p := range ev.peers {
			if p.member == from {
				return true
			}
		}
	}
	return false
}

// meshMembers counts the local members of mesh rooms.
func (c *Cluster) meshMembers() int64 {
	var n int64
	for _, m := range c.members() {
		m.mu.Lock()
		for _, s := range m.seats {
			if s.mesh != nil && !s.joining {
				n++
			}
		}
		m.mu.Unlock()
	}
	return n
}

// sameMesh reports whether a mesh seat's view (self first, then the
// others) has the members of the room as stored, whatever their order.
func sameMesh(view, stored []meshPeer) bool {
	if len(view) != len(stored) {
		return false
	}
	for _, p := range stored {
		found := false
		for _, q := range view {
			if q == p || q.member == p.member && q.id == p.id && q.id == view[0].id {
				found = true // one's own seat is live in its own view
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// revOf is the revision m's seat in k reflects; 0 when it has none.
func (m *member) revOf(k hub.Key) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.seats[k]; s != nil && !s.joining {
		return s.rev
	}
	return 0
}
