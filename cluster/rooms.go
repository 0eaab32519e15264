package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

// Join implements hub.Rooms.
func (c *Cluster) Join(ctx context.Context, conn hub.Conn, k hub.Key, info hub.JoinInfo) error {
	m := c.member(conn, true)
	m.mu.Lock()
	if s := m.seats[k]; s != nil && !s.joining {
		// Already in: answer joined again, in order with the room's
		// other messages to this member.
		conn.Send(hub.Frame(room.Joined, k.Stream))
		m.mu.Unlock()
		return nil
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

	o, err := c.join(ctx, m, k)
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
	s.partner, _ = o.r.Partner(m.id)
	c.seated(k, 1)
	c.admitted(k, m, o, info)
	conn.Send(hub.Frame(room.Joined, k.Stream))
	c.drainLocked(m, k, s, false)
	m.mu.Unlock()
	// The joiner's joined is queued before its partner's start leaves.
	c.deliver(k, o, m.id, 0)
	return nil
}

// join commits m's entry into k. Members on nodes known dead are removed in
// the same write; a full room has its members probed once, and the ones
// that do not answer are evicted before the second and last try.
func (c *Cluster) join(ctx context.Context, m *member, k hub.Key) (outcome, error) {
	for probed := false; ; probed = true {
		var evicted []string
		o, err := c.transact(ctx, k, func(r *room.Room[string]) ([]room.Action[string], error) {
			evicted = evicted[:0]
			var acts []room.Action[string]
			now := time.Now()
			for _, id := range r.Members() {
				if id != m.id && !c.live.alive(nodeOf(id), now) && c.confirmDead(ctx, nodeOf(id)) {
					acts = append(acts, r.Leave(id, false)...)
					evicted = append(evicted, id)
				}
			}
			res, ja := r.Join(m.id)
			if res == room.Full {
				return nil, errFull
			}
			return append(acts, ja...), nil
		})
		switch {
		case err == nil:
			for _, id := range evicted {
				c.evictions.Add(1)
				c.log.Info("removed member of a dead node", "app", k.App, "stream", k.Stream, "member", id)
			}
			c.joinEvicted(k, m.id, evicted, o)
			return o, nil
		case !errors.Is(err, errFull):
			return o, c.unavailable(ctx, "join", k, err)
		case probed:
			return o, protocol.ErrNoSpaceForNewPeer
		}
		c.probeAndEvict(ctx, k, o.r.Members())
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

// probeAndEvict checks the members of a full room concurrently and removes
// the ones that do not answer, as if their sockets had closed, then drops
// their sockets.
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
		o, err := c.transact(ctx, k, removeMember(id))
		if err != nil || !o.changed {
			continue
		}
		c.evictions.Add(1)
		c.log.Info("evicted unresponsive member", "app", k.App, "stream", k.Stream, "member", id)
		c.removedBy(k, id, o, hub.ReasonEvicted)
		c.deliver(k, o, "", hub.ReasonEvicted)
		c.kill(id, "no answer to liveness probe")
	}
}

// Leave implements hub.Rooms.
func (c *Cluster) Leave(conn hub.Conn, k hub.Key, reason hub.Reason) {
	explicit := reason == hub.ReasonLeft
	m := c.member(conn, false)
	var s *seat
	if m != nil {
		m.mu.Lock()
		s = m.seats[k]
		m.mu.Unlock()
	}
	if s == nil {
		if explicit {
			conn.Send(hub.Frame(room.Leaved, k.Stream))
		}
		return
	}
	var o outcome
	var err error
	queued := c.queueLeaveIfCutOff(pendingLeave{m.id, k, reason})
	if !queued {
		o, err = c.transact(context.Background(), k, removeMemberAs(m.id, explicit))
		if err != nil {
			// The partner learns when NATS is back, or from the sweep.
			c.log.Warn("leave not written; retrying after the next reconnect", "app", k.App, "stream", k.Stream, "err", err)
			c.queueLeave(pendingLeave{m.id, k, reason})
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
		c.deliver(k, o, m.id, reason)
	}
	c.forgetIfIdle(m)
}

// removeMember takes id out of a room as if its socket had closed.
func removeMember(id string) func(r *room.Room[string]) ([]room.Action[string], error) {
	return removeMemberAs(id, false)
}

// removeMemberAs takes id out of a room; explicit gives it leaved.
func removeMemberAs(id string, explicit bool) func(r *room.Room[string]) ([]room.Action[string], error) {
	return func(r *room.Room[string]) ([]room.Action[string], error) {
		if !r.Has(id) {
			return nil, nil
		}
		return r.Leave(id, explicit), nil
	}
}

// Relay implements hub.Rooms. It reads only this node's cached view of
// the room: a frame for a partner on another node goes on the link to
// that node, which delivers it once and in order, after an outage if need
// be (link.go).
func (c *Cluster) Relay(conn hub.Conn, k hub.Key, frame []byte) error {
	m := c.member(conn, false)
	if m == nil {
		return protocol.ErrNoPeerAssociated
	}
	p := m.partnerOf(k)
	inc, num, ok := splitMember(p)
	if !ok {
		return protocol.ErrNoPeerAssociated
	}
	if inc == c.inc {
		c.deliverFrame(num, m.id, k, frame)
		return nil
	}
	c.met.framesOut.Inc()
	c.out.send(inc, msgFrame, m, k, 16+len(m.id)+len(k.App)+len(k.Stream)+len(frame), func(b []byte) []byte {
		return frameBody(b, num, m.id, k, frame)
	})
	return nil
}

// Stats implements hub.Rooms. Rooms counts the rooms with at least one
// member on this node, so a room split across two nodes counts on both.
func (c *Cluster) Stats() hub.Stats {
	c.mu.RLock()
	n := len(c.rooms)
	c.mu.RUnlock()
	return hub.Stats{Rooms: int64(n), Evictions: c.evictions.Load(), Probes: c.probes.Load()}
}
