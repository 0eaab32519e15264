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

// Join implements hub.Rooms: it runs room.Step.Join on the room's value.
// A join whose ResumeToken matches a seat of the room takes that seat
// back, wherever its previous socket was; any other token is ignored and
// the join is an ordinary one.
func (c *Cluster) Join(ctx context.Context, conn hub.Conn, k hub.Key, info hub.JoinInfo) error {
	m := c.member(conn, true)
	m.mu.Lock()
	if info.Addr.IsValid() {
		m.addr = info.Addr
	}
	if s := m.seats[k]; s != nil && !s.joining {
		if plainJoin(info) && !info.Mesh && s.mesh == nil && s.own.Session == "" && !s.own.Resumable && s.partner == "" {
			// Already in, waiting alone, and nothing to change: the
			// machine would answer joined again and write nothing
			// (Step.Join, Repeated). Answered here, in order with the
			// room's other messages to this member.
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

	o, res, err := c.join(ctx, m, k, info)
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
	c.settleLocked(m, k, s, o)
	c.seated(k, 1)
	hub.TellSeated(conn, k, m.id, res == room.Resumed)
	// The joiner's prelude and joined, and what was kept for a seat it
	// took back, go out before its partner hears of it: start, or
	// peerReconnected and the frames kept for the seat.
	c.sendOwn(m, k, o, info.Prelude)
	c.drainLocked(m, k, s, false)
	c.unlockFlush(m)
	c.deliver(k, o, m.id)
	c.effects(k, o)
	if res == room.Resumed {
		c.log.Info("seat resumed", "app", k.App, "stream", k.Stream, "member", m.id)
	}
	return nil
}

// plainJoin reports whether a join sent none of the resume fields.
func plainJoin(info hub.JoinInfo) bool {
	return info.Session == "" && !info.Resumable && info.ResumeToken == ""
}

// joiner is m's join as the room sees it.
func joiner(m *member, info hub.JoinInfo, again bool) room.Joiner[string] {
	return room.Joiner[string]{Member: m.id, Session: info.Session, Resumable: info.Resumable, Restart: info.Restart,
		Token: info.ResumeToken, Again: again, Prelude: info.Prelude != nil, Remote: info.Remote, Addr: info.Addr,
		Mesh: info.Mesh, Max: info.MaxPeers, RestartPeer: info.RestartPeer}
}

// join commits m's entry into k. Before it, held seats whose grace ran
// out are given up and members of dead nodes are held or removed
// (room.Step.Sweep). A full room has its live members probed once, and
// the ones that do not answer are evicted before the second and last
// try.
func (c *Cluster) join(ctx context.Context, m *member, k hub.Key, info hub.JoinInfo) (outcome, room.JoinResult, error) {
	j := joiner(m, info, false)
	for probed := false; ; probed = true {
		var res room.JoinResult
		o, err := c.transact(ctx, k, func(t *txn) error {
			t.Dead = func(id string) bool {
				inc := nodeOf(id)
				return !c.live.Alive(inc, time.Now()) && c.confirmDead(ctx, inc)
			}
			res = t.Join(j)
			return nil
		})
		if err != nil {
			return o, res, c.unavailable(ctx, "join", k, err)
		}
		if res == room.MeshOnly {
			return o, res, protocol.ErrMeshClientRequired
		}
		if res != room.Full {
			return o, res, nil
		}
		// The room is full, but the write may have held or removed a
		// dead node's member: its partner hears of it.
		c.deliver(k, o, "")
		c.effects(k, o)
		if probed {
			return o, res, protocol.ErrNoSpaceForNewPeer
		}
		c.probeAndEvict(ctx, k, o.after.ProbeTargets())
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

// probeAndEvict checks the given members of a full room concurrently and
// removes the ones that do not answer (room.Step.Evict), then drops their
// sockets.
func (c *Cluster) probeAndEvict(ctx context.Context, k hub.Key, members []string) {
	c.probes.Add(1)
	alive := make([]bool, len(members))
	var wg sync.WaitGroup
	for i, id := range members {
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
		o, err := c.transact(ctx, k, func(t *txn) error {
			t.Evict(id)
			return nil
		})
		if err != nil || !o.changed {
			continue
		}
		c.deliver(k, o, "")
		c.effects(k, o)
		c.kill(id, "no answer to liveness probe")
	}
}

// Leave implements hub.Rooms. A resumable member whose socket went away
// (room.Holding) keeps its seat for the reconnect grace, if HoldCaps
// allow.
func (c *Cluster) Leave(conn hub.Conn, k hub.Key, reason hub.Reason) {
	m := c.member(conn, false)
	var s *seat
	resumable := false
	var addr netip.Addr
	if m != nil {
		m.mu.Lock()
		if s = m.seats[k]; s != nil {
			resumable = s.own.Resumable
		}
		addr = m.addr
		m.mu.Unlock()
	}
	if s == nil {
		if reason == hub.ReasonLeft {
			conn.Send(hub.Frame(room.Leaved, k.Stream))
		}
		if m != nil {
			c.forgetIfIdle(m) // its seat was taken back elsewhere (onGone)
		}
		return
	}
	if resumable && room.Holding(reason) && c.holding() {
		if c.opt.HoldCaps.Take(addr) {
			c.leaveHeld(m, k, reason, addr)
			c.forgetIfIdle(m)
			return
		}
		c.log.Info("seat not held: too many held seats", "app", k.App, "stream", k.Stream, "member", m.id, "reason", reason.String())
	}
	var o outcome
	var err error
	if !c.queueLeaveIfCutOff(pendingLeave{id: m.id, k: k, reason: reason}) {
		o, err = c.transact(context.Background(), k, leaveTxn(m.id, reason))
		if err != nil {
			// The partner learns when NATS is back, or from the sweep.
			c.log.Warn("leave not written; retrying after the next reconnect", "app", k.App, "stream", k.Stream, "err", err)
			c.queueLeave(pendingLeave{id: m.id, k: k, reason: reason})
		}
	}
	m.mu.Lock()
	c.dropSeatLocked(m, k)
	if reason == hub.ReasonLeft {
		conn.Send(hub.Frame(room.Leaved, k.Stream))
	}
	m.mu.Unlock()
	if err == nil {
		c.deliver(k, o, m.id)
		c.effects(k, o)
	}
	c.forgetIfIdle(m)
}

// leaveTxn takes member id out of a room for reason, as a socket that
// asked (ReasonLeft) or went away without its seat being held.
func leaveTxn(id string, reason hub.Reason) func(t *txn) error {
	return func(t *txn) error {
		if reason == hub.ReasonLeft {
			t.Leave(id, reason)
		} else {
			t.Lost(id, reason, false)
		}
		return nil
	}
}

// Relay implements hub.Rooms. It reads only this node's view of the room:
// a frame for a partner on another node goes on the link to that node,
// which delivers it once and in order, after an outage if need be
// (link.go). A frame for a partner whose seat is held is kept here until
// the seat is taken back (keep.go).
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
		c.keepLocked(k, s, frame, false)
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
		Held: int64(held), Resumes: c.resumes.Load(), Expiries: c.expiries.Load(), MeshMembers: c.meshMembers()}
	c.opt.HoldCaps.AddStats(&st)
	return st
}

var errNotMember = errors.New("cluster: not a member of the room")

// rejoin runs a repeated join of a member that is paired or sent (or had
// sent) the resume fields (room.Step.Join: Repeated or Restarted): its
// joined carries a new resume token and the partner's session; a restart
// sends the partner stop (reason restart) and start.
func (c *Cluster) rejoin(ctx context.Context, m *member, k hub.Key, info hub.JoinInfo) error {
	var res room.JoinResult
	o, err := c.transact(ctx, k, func(t *txn) error {
		if res = t.Join(joiner(m, info, true)); res == room.Removed {
			return errNotMember
		}
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
	if s != nil && !s.joining && o.changed {
		if own := o.after.Seat(m.id); own != nil {
			s.own = *own
			s.own.Kept, s.own.Frames = nil, room.Keep{}
		}
		if res == room.Restarted {
			// What m relayed for a held partner belonged to the
			// negotiation it gave up; a new call begins.
			c.opt.HoldCaps.Unkeep(s.keep.Drop())
			s.paired = o.after.Call()
		}
	}
	if s != nil {
		c.sendOwn(m, k, o, nil)
	}
	c.unlockFlush(m)
	if s != nil && o.changed {
		// The seat's view moves in revision order with the transitions
		// of others that may still be on their way.
		c.applyEvent(m, k, c.eventFor(o, m.id, nil, 0))
	}
	c.deliver(k, o, m.id)
	c.effects(k, o)
	return nil
}
