package cluster

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

// Join implements hub.Rooms. A join whose ResumeToken matches a seat of
// the room takes that seat back, wherever its previous socket was (see
// resume.go); any other token is ignored and the join is an ordinary one.
func (c *Cluster) Join(ctx context.Context, conn hub.Conn, k hub.Key, info hub.JoinInfo) error {
	m := c.member(conn, true)
	m.mu.Lock()
	if info.Addr.IsValid() {
		m.addr = info.Addr
	}
	if s := m.seats[k]; s != nil && !s.joining {
		if plainJoin(info) && s.session == "" && !s.resumable && s.partner == "" {
			// Already in, waiting alone: answer joined again, in order
			// with the room's other messages to this member.
			conn.Send(hub.Frame(room.Joined, k.Stream))
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
		return c.rejoin(ctx, m, k, info)
	}
	if info.Again { // an operator removed it meanwhile
		m.mu.Unlock()
		c.forgetIfIdle(m)
		return hub.ErrRemoved
	}
	if !c.ready.Load() {
		m.mu.Unlock()
		c.forgetIfIdle(m)
		return protocol.ErrServiceUnavailable
	}
	// Transitions reaching this member before the join's write returns
	// wait on the seat.
	s := &seat{joining: true}
	m.seats[k] = s
	m.mu.Unlock()

	o, j, err := c.join(ctx, m, k, info)
	m.mu.Lock()
	if m.seats[k] != s {
		err = protocol.ErrServiceUnavailable // cannot happen: one join at a time per socket
	}
	if err != nil {
		if m.seats[k] == s {
			delete(m.seats, k)
		}
		m.mu.Unlock()
		c.forgetIfIdle(m)
		return err
	}
	s.joining = false
	s.rev = o.rev
	s.session, s.resumable, s.token = info.Session, info.Resumable && c.holding(), o.st.val(m.id).Token
	s.partner, _ = o.r.Partner(m.id)
	if s.partner != "" {
		pv := o.st.val(s.partner)
		s.peerSession = pv.Session
		if pv.HeldUntil != 0 {
			c.startKeepLocked(m, k, s, pv.HeldUntil)
		}
	}
	c.seated(k, 1)
	if j.resumedFrom != "" {
		c.resumedOps(k, m, o, info)
	} else {
		c.admitted(k, m, o, info)
	}
	conn.Send(protocol.Joined(nil, k.Stream, c.joinedInfo(info, s, j)))
	for _, kp := range j.kept {
		conn.Send(c.keptFrame(k, kp))
	}
	c.drainLocked(m, k, s, false)
	c.unlockFlush(m)
	// The joiner's joined (and what was kept for a resumed seat) is queued
	// before its partner hears of it: start, or peerReconnected and the
	// frames kept for the seat.
	c.deliver(k, o, m.id)
	c.joinWritten(k, m, o, j)
	return nil
}

// plainJoin reports whether a join sent none of the resume fields.
func plainJoin(info hub.JoinInfo) bool {
	return info.Session == "" && !info.Resumable && info.ResumeToken == ""
}

// join commits m's entry into k (joinTxn). A full room has its members
// probed once, and the ones that do not answer are evicted before the
// second and last try; a held seat answers for its absent member.
func (c *Cluster) join(ctx context.Context, m *member, k hub.Key, info hub.JoinInfo) (outcome, joinPlan, error) {
	for probed := false; ; probed = true {
		var j joinPlan
		o, err := c.transact(ctx, k, 0, c.joinTxn(ctx, m, info, &j))
		if err != nil {
			return o, j, c.unavailable(ctx, "join", k, err)
		}
		if !j.full {
			return o, j, nil
		}
		// The room is full, but the write may have held a dead node's
		// member's seat: its partner hears of it.
		c.deliver(k, o, "")
		c.joinWritten(k, m, o, j)
		if probed {
			return o, j, protocol.ErrNoSpaceForNewPeer
		}
		c.probeAndEvict(ctx, k, o.st)
	}
}

// unavailable logs a backend failure and turns it into the protocol error
// the client gets (the join's own deadline stays a deadline).
func (c *Cluster) unavailable(ctx context.Context, op string, k hub.Key, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.log.Warn("membership operation failed", "op", op, "app", k.App, "stream", k.Stream, "err", err)
	c.checkBucket()
	return protocol.ErrServiceUnavailable
}

// probeAndEvict checks the live members of a full room concurrently and
// removes the ones that do not answer, as if their sockets had closed,
// then drops their sockets. A held seat is occupied until its grace ends:
// it is not probed.
func (c *Cluster) probeAndEvict(ctx context.Context, k hub.Key, st stored) {
	c.probes.Add(1)
	members := st.room.Members()
	alive := make([]bool, len(members))
	var wg sync.WaitGroup
	for i, id := range members {
		if st.held(id) != 0 {
			alive[i] = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			alive[i] = c.probe(ctx, id)
		}()
	}
	wg.Wait()
	for i, id := range members {
		if alive[i] {
			continue
		}
		o, err := c.transact(ctx, k, hub.ReasonEvicted, func(t *txn) error {
			if t.room.Has(id) && t.held(id) == 0 { // held meanwhile: its seat waits
				t.leave(id, false, 0)
			}
			return nil
		})
		if err != nil || !o.changed {
			continue
		}
		c.evictions.Add(1)
		c.log.Info("evicted unresponsive member", "app", k.App, "stream", k.Stream, "member", id)
		c.removedBy(k, id, o, hub.ReasonEvicted)
		c.deliver(k, o, "")
		c.kill(id, "no answer to liveness probe")
	}
}

// Leave implements hub.Rooms. A resumable member whose socket went away
// (closed, timeout, node failure) keeps its seat for the reconnect grace.
func (c *Cluster) Leave(conn hub.Conn, k hub.Key, reason hub.Reason) {
	explicit := reason == hub.ReasonLeft
	m := c.member(conn, false)
	var s *seat
	resumable := false
	var addr netip.Addr
	if m != nil {
		m.mu.Lock()
		if s = m.seats[k]; s != nil {
			resumable = s.resumable
		}
		addr = m.addr
		m.mu.Unlock()
	}
	if s == nil {
		if explicit {
			conn.Send(hub.Frame(room.Leaved, k.Stream))
		}
		if m != nil {
			c.forgetIfIdle(m) // its seat was taken back elsewhere (onGone)
		}
		return
	}
	if resumable && holdsSeat(reason) && c.holding() {
		if c.opt.HoldCaps.Take(addr) {
			c.leaveHeld(m, k, reason, addr)
			c.forgetIfIdle(m)
			return
		}
		c.log.Info("seat not held: too many held seats", "app", k.App, "stream", k.Stream, "member", m.id, "reason", reason.String())
	}
	var o outcome
	var err error
	queued := c.queueLeaveIfCutOff(pendingLeave{id: m.id, k: k, reason: reason})
	if !queued {
		o, err = c.transact(context.Background(), k, reason, removeMemberAs(m.id, explicit))
		if err != nil {
			// The partner learns when NATS is back, or from the sweep.
			c.log.Warn("leave not written; retrying after the next reconnect", "app", k.App, "stream", k.Stream, "err", err)
			c.queueLeave(pendingLeave{id: m.id, k: k, reason: reason})
			queued = true
		}
	}
	c.left(k, m.id, o, reason, queued)
	m.mu.Lock()
	c.dropSeatLocked(m, k)
	if explicit {
		conn.Send(hub.Frame(room.Leaved, k.Stream))
	}
	m.mu.Unlock()
	if err == nil {
		c.deliver(k, o, m.id)
	}
	c.forgetIfIdle(m)
}

// removeMember takes id out of a room as if its socket had closed.
func removeMember(id string) func(t *txn) error {
	return removeMemberAs(id, false)
}

// removeMemberAs takes id out of a room; explicit gives it leaved.
func removeMemberAs(id string, explicit bool) func(t *txn) error {
	return func(t *txn) error {
		if t.room.Has(id) {
			t.leave(id, explicit, 0)
		}
		return nil
	}
}

// Relay implements hub.Rooms. It reads only this node's cached view of
// the room: a frame for a partner on another node goes on the link to
// that node, which delivers it once and in order, after an outage if need
// be (link.go). A frame for a partner whose seat is held is kept here
// until the seat is taken back (keep.go).
func (c *Cluster) Relay(conn hub.Conn, k hub.Key, frame hub.Loan) error {
	m := c.member(conn, false)
	if m == nil {
		return protocol.ErrNoPeerAssociated
	}
	m.mu.Lock()
	s := m.seats[k]
	if s == nil || s.joining || s.partner == "" {
		m.mu.Unlock()
		return protocol.ErrNoPeerAssociated
	}
	if s.held != 0 {
		c.keepLocked(m, k, s, frame, false)
		m.mu.Unlock()
		return nil
	}
	p := s.partner
	inc, num, ok := splitMember(p)
	if !ok {
		m.mu.Unlock()
		return protocol.ErrNoPeerAssociated
	}
	if inc != c.inc && (m.flushing || len(m.outbox) > 0) {
		// Kept frames for this partner are still being published: this
		// one goes after them.
		m.outbox = append(m.outbox, outFrame{inc, num, k, frame.Clone()})
		c.unlockFlush(m)
		return nil
	}
	m.mu.Unlock()
	if inc == c.inc {
		c.deliverFrame(num, m.id, k, frame)
		return nil
	}
	c.publishFrame(m, inc, num, k, frame)
	return nil
}

// Stats implements hub.Rooms. Rooms counts the rooms with at least one
// member on this node, so a room split across two nodes counts on both.
// Held counts the holds this node wrote and still watches: summed over
// the nodes, the seats held in the cluster (while their writers live).
func (c *Cluster) Stats() hub.Stats {
	c.mu.RLock()
	n := len(c.rooms)
	c.mu.RUnlock()
	c.holdMu.Lock()
	held := len(c.holds)
	c.holdMu.Unlock()
	st := hub.Stats{Rooms: int64(n), Evictions: c.evictions.Load(), Probes: c.probes.Load(),
		Held: int64(held), Resumes: c.resumes.Load(), Expiries: c.expiries.Load()}
	c.opt.HoldCaps.AddStats(&st)
	return st
}

var errNotMember = errors.New("cluster: not a member of the room")

// rejoin answers a repeated join of a member that is paired or sent (or
// had sent) the resume fields: like every joined, its answer carries a new
// resume token (the old one stops working) and the partner's session. A
// join that RestartsCall, in a full room, starts the call over
// (txn.restart): the partner hears stop (reason restart) and start.
func (c *Cluster) rejoin(ctx context.Context, m *member, k hub.Key, info hub.JoinInfo) error {
	var tok string
	restarted := false
	o, err := c.transact(ctx, k, hub.ReasonRestart, func(t *txn) error {
		if !t.room.Has(m.id) {
			return errNotMember
		}
		restarted = t.room.Len() == 2 && (&room.Joiner[string]{Session: info.Session, Restart: info.Restart}).RestartsCall()
		if restarted {
			t.restart(m.id)
		}
		tok = c.setJoiner(t, m.id, info)
		return nil
	})
	if errors.Is(err, errNotMember) {
		// The bucket moved on without this socket (an outage); recovery
		// drops it. Until then it is answered as before.
		m.conn.Send(hub.Frame(room.Joined, k.Stream))
		return nil
	}
	if err != nil {
		return c.unavailable(ctx, "join", k, err)
	}
	m.mu.Lock()
	s := m.seats[k]
	if s != nil {
		s.session, s.resumable, s.token = info.Session, info.Resumable && c.holding(), o.st.val(m.id).Token
		if restarted && o.changed {
			c.restartKeepLocked(s)
		}
		m.conn.Send(protocol.Joined(nil, k.Stream, c.joinedInfo(info, s, joinPlan{token: tok})))
	}
	m.mu.Unlock()
	if o.changed {
		if s != nil {
			c.applyEvent(m, k, c.eventFor(o, m.id, nil, 0)) // in revision order with the others
		}
		c.deliver(k, o, m.id)
		if restarted {
			c.restartedOps(k, m.id, o)
		}
	}
	return nil
}

// joinedInfo is what member s's joined carries: a resume token for a
// resumable join, whether it took a seat back, and the partner's session
// for a join that sent one.
func (c *Cluster) joinedInfo(info hub.JoinInfo, s *seat, j joinPlan) protocol.JoinedInfo {
	ji := protocol.JoinedInfo{ResumeToken: j.token, Resumed: j.resumedFrom != ""}
	if j.token != "" {
		ji.ReconnectGrace = c.opt.ReconnectGrace.Milliseconds()
	}
	if info.Session != "" && s.partner != "" {
		ji.PeerSession = s.peerSession
	}
	return ji
}

// since is a unix-ms time as a time.Time (zero for 0).
func since(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
