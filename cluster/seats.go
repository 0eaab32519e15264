package cluster

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

// gapWait is how long a room transition that arrived ahead of an earlier
// one waits for it. Transitions of one room may come from different nodes,
// so they can overtake each other on the way; a missing one that never
// comes was lost with a node that died between its write and its publish,
// and then the later ones are applied anyway.
const gapWait = time.Second

// member is a local connection as the cluster knows it.
//
// Lock order: a member's mu, then Cluster.mu (the member tables), then
// holdMu, then a Conn's own lock (Send); never the other way round, and
// never two members' locks together. Nothing under mu publishes, kills,
// probes or logs: frames for other nodes wait in the outbox until
// unlockFlush, and a socket to drop is dropped after the lock's release.
type member struct {
	conn hub.Conn
	num  uint64
	id   string
	addr netip.Addr // the client's address (JoinInfo.Addr), for HoldCaps; set at its first join, under mu

	mu    sync.Mutex
	seats map[hub.Key]*seat

	// Frames for members on other nodes that were decided on under mu
	// (kept frames flushed to a resumed partner, keep.go) wait here, in
	// order, to be published once mu is released. While flushing is set
	// (a goroutine is publishing them), m's own relays to other nodes
	// queue behind them.
	outbox   []outFrame
	flushing bool
}

// seat is a local member's place in one room: its view of the room as of
// the last transition it applied, so that relaying never reads the
// bucket. The room itself (room.Seats) is in the bucket; this is what the
// node needs between reads.
type seat struct {
	joining bool    // the join's write is in flight: transitions wait
	rev     uint64  // membership revision this view reflects
	partner string  // member id of the partner; "" while waiting
	pending []event // transitions that overtook an earlier one
	gap     *time.Timer

	// own is the member's seat as its node last wrote it (session,
	// resumable, token, address, join time).
	own room.Seat[string]
	// paired is when the call with the partner began, as far as this node
	// knows (listings).
	paired time.Time

	// Its partner's seat as the last transition left it (keep.go).
	peerSession string      // the partner's session
	held        int64       // the partner's seat is held until (unix ms); 0: live
	keep        room.Keep   // frames relayed to the held partner meanwhile
	watch       func() bool // stops this node's expiry timer of the partner's hold
	resumedFrom string      // the member id whose seat the partner took back, last time

	// mesh is the member's view of its mesh room (mesh.go); nil in a
	// room of two.
	mesh *meshSeat
}

// member returns c's member, creating it when create is set.
func (c *Cluster) member(conn hub.Conn, create bool) *member {
	c.mu.RLock()
	m := c.byConn[conn]
	c.mu.RUnlock()
	if m != nil || !create {
		return m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m = c.byConn[conn]; m == nil {
		num := c.nextNum.Add(1)
		m = &member{conn: conn, num: num, id: memberID(c.inc, num), seats: map[hub.Key]*seat{}}
		c.byConn[conn], c.byNum[num] = m, m
	}
	return m
}

func (c *Cluster) memberByNum(num uint64) *member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byNum[num]
}

// forgetIfIdle drops m once it is in no room. Only the connection's own
// goroutine joins and leaves, so nothing adds a seat concurrently.
func (c *Cluster) forgetIfIdle(m *member) {
	m.mu.Lock()
	idle := len(m.seats) == 0
	m.mu.Unlock()
	if !idle {
		return
	}
	c.mu.Lock()
	if c.byConn[m.conn] == m {
		delete(c.byConn, m.conn)
		delete(c.byNum, m.num)
	}
	c.mu.Unlock()
}

// seated records that one more local member is in room k.
func (c *Cluster) seated(k hub.Key, delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.rooms[k] + delta; n > 0 {
		c.rooms[k] = n
	} else {
		delete(c.rooms, k)
	}
}

// dropSeatLocked removes m's seat in k. The caller holds m.mu.
func (c *Cluster) dropSeatLocked(m *member, k hub.Key) {
	s := m.seats[k]
	if s == nil {
		return
	}
	if s.gap != nil {
		s.gap.Stop()
	}
	c.endKeepLocked(s)
	delete(m.seats, k)
	if !s.joining {
		c.seated(k, -1)
	}
}

// settleLocked sets local seat s after a transition this node committed
// for its member: the room afterwards (o.after) names its partner and
// what its node wrote for it. The caller holds the member's lock.
func (c *Cluster) settleLocked(m *member, k hub.Key, s *seat, o outcome) {
	if o.after.Mesh() {
		c.settleMeshLocked(m, s, o)
		return
	}
	s.rev = o.rev
	if own := o.after.Seat(m.id); own != nil {
		s.own = *own
		s.own.Kept, s.own.Frames = nil, room.Keep{}
	}
	old := s.partner
	s.partner, s.peerSession = "", ""
	var held int64
	if p, ok := o.after.Partner(m.id); ok {
		ps := o.after.Seat(p)
		s.partner, s.peerSession, held = p, ps.Session, millis(ps.Held)
	}
	if s.partner != old || s.paired.IsZero() {
		s.paired = o.after.Call()
	}
	for _, n := range o.step.Notes {
		if n.Kind == room.NoteCallStarted && n.Seat.Member == m.id {
			s.paired = n.Call // a restart: a new call with the same partner
		}
	}
	if s.partner == "" {
		s.paired = time.Time{}
	}
	c.followHoldLocked(m, k, s, old, held, false)
}

// applyEvent applies a room transition to local member m, in revision
// order, sending its messages.
func (c *Cluster) applyEvent(m *member, k hub.Key, ev event) {
	m.mu.Lock()
	defer c.unlockFlush(m)
	s := m.seats[k]
	if s == nil {
		return // m has left the room since
	}
	if s.joining {
		s.pending = append(s.pending, ev)
		return
	}
	if ev.rev <= s.rev {
		return
	}
	if ev.prev != s.rev {
		s.pending = append(s.pending, ev)
		if s.gap == nil {
			s.gap = time.AfterFunc(gapWait, func() { c.closeGap(m, k, s) })
		}
		return
	}
	c.applyLocked(m, k, s, ev)
	c.drainLocked(m, k, s, false)
}

// applyLocked sends a transition's messages. ev.reason (why the partner
// left, nodeFailure for a dead node) becomes the stop's reason field; the
// partner's session goes into start for a member that sent one.
func (c *Cluster) applyLocked(m *member, k hub.Key, s *seat, ev event) {
	if ev.mesh {
		c.applyMeshLocked(m, s, ev)
		return
	}
	old, resumed := s.partner, ev.flags&evResumed != 0
	s.rev, s.partner, s.peerSession = ev.rev, ev.partner, ev.session
	switch {
	case s.partner == "":
		s.paired = time.Time{}
	case s.partner != old && !resumed, slices.Contains(ev.kinds, room.Start):
		s.paired = time.Now() // a new call (or a restarted one)
	}
	c.followHoldLocked(m, k, s, old, ev.held, resumed)
	for _, kind := range ev.kinds {
		msg := room.Msg[string]{Kind: kind, Reason: ev.reason}
		if kind == room.Start && s.own.Session != "" {
			msg.Session = s.peerSession
		}
		if kind != room.Stop && kind != room.Leaved {
			msg.Reason = 0
		}
		m.conn.Send(hub.Encode(k.Stream, msg, c.opt.ReconnectGrace, nil))
	}
}

// drainLocked applies the pending transitions that now follow on; force
// applies them all, in order, skipping a missing one.
func (c *Cluster) drainLocked(m *member, k hub.Key, s *seat, force bool) {
	slices.SortFunc(s.pending, func(a, b event) int { return int64Cmp(a.rev, b.rev) })
	i := 0
	for ; i < len(s.pending); i++ {
		ev := s.pending[i]
		if ev.rev <= s.rev {
			continue
		}
		if ev.prev != s.rev && !force {
			break
		}
		c.applyLocked(m, k, s, ev)
	}
	s.pending = slices.Delete(s.pending, 0, i)
	switch {
	case len(s.pending) == 0 && s.gap != nil:
		s.gap.Stop()
		s.gap = nil
	case len(s.pending) > 0 && s.gap == nil:
		s.gap = time.AfterFunc(gapWait, func() { c.closeGap(m, k, s) })
	}
}

func int64Cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// closeGap gives up waiting for a lost transition.
func (c *Cluster) closeGap(m *member, k hub.Key, s *seat) {
	m.mu.Lock()
	if m.seats[k] != s || s.joining {
		m.mu.Unlock()
		return
	}
	s.gap = nil
	lost := len(s.pending) > 0
	if lost {
		c.drainLocked(m, k, s, true)
	}
	c.unlockFlush(m)
	if lost {
		c.log.Warn("room transition lost; applied later ones", "app", k.App, "stream", k.Stream, "member", m.id)
	}
}

// members returns the local members. Callers lock each one after this
// returns: the lock order is member, then cluster.
func (c *Cluster) members() []*member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ms := make([]*member, 0, len(c.byConn))
	for _, m := range c.byConn {
		ms = append(ms, m)
	}
	return ms
}

func (c *Cluster) stopGapTimers() {
	for _, m := range c.members() {
		m.mu.Lock()
		for _, s := range m.seats {
			if s.gap != nil {
				s.gap.Stop()
			}
			c.endKeepLocked(s)
		}
		m.mu.Unlock()
	}
	c.stopHolds()
}

// partnerOf returns m's partner in k if m is seated there and paired.
func (m *member) partnerOf(k hub.Key) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.seats[k]; s != nil && !s.joining {
		return s.partner
	}
	return ""
}

// deliverFrame hands a relayed frame to local member num if its partner
// in k is still from: a frame that crossed a leave on the way is dropped,
// as it would have been refused on a single node. A frame for a seat this
// node holds for a lost socket goes back to its sender's node (keep.go).
func (c *Cluster) deliverFrame(num uint64, from string, k hub.Key, frame hub.Loan) {
	if m := c.memberByNum(num); m != nil {
		m.mu.Lock()
		s := m.seats[k]
		ok := s != nil && !s.joining && (s.partner == from || s.pendingPartner(from) || s.meshKnows(from))
		if ok {
			frame.SendTo(m.conn)
		}
		m.mu.Unlock()
		if ok {
			return
		}
	}
	c.sendBack(num, from, k, frame)
}

// pendingPartner reports whether a transition waiting to be applied makes
// from the partner: its frames may overtake the transition that names it
// when that one waits for an earlier one.
func (s *seat) pendingPartner(from string) bool {
	for _, ev := range s.pending {
		if ev.partner == from && from != "" {
			return true
		}
	}
	return false
}

// relayFailed tells member m that frames it relayed in k were lost.
func relayFailed(m *member, k hub.Key) {
	m.conn.Send(protocol.ErrorMsg(nil, protocol.ErrRelayFailed, k.Stream))
}
