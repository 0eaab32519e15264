package cluster

import (
	"context"
	"time"

	"github.com/duet-rtc/duet/hub"
)

// pendingLeave is a leave that happened while this node was cut off from
// NATS: the socket has gone locally, the room does not know yet.
type pendingLeave struct {
	id string
	k  hub.Key
}

// queueLeaveIfCutOff queues the leave when joins are refused (not
// connected, or still recovering), atomically with recovery's check that
// the queue is empty.
func (c *Cluster) queueLeaveIfCutOff(id string, k hub.Key) bool {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	if c.ready.Load() {
		return false
	}
	c.pending = append(c.pending, pendingLeave{id, k})
	return true
}

func (c *Cluster) queueLeave(id string, k hub.Key) {
	c.pendMu.Lock()
	c.pending = append(c.pending, pendingLeave{id, k})
	c.pendMu.Unlock()
}

// recover runs after a reconnect (or when another node declared this one
// dead): it writes the leaves that happened meanwhile, drops the local
// sockets the cluster has moved on from (their partner left unheard, or a
// survivor removed them), and then accepts joins again. It retries until
// it succeeds, the connection drops again (the next reconnect runs it
// afresh) or the node closes.
func (c *Cluster) recover() {
	c.recoverMu.Lock()
	defer c.recoverMu.Unlock()
	wasReady := c.ready.Load()
	if !wasReady {
		// Silence while we could hear nobody says nothing about the others.
		c.live.reset(time.Now())
	}
	for {
		if !c.connected() {
			return
		}
		err := c.recoverOnce()
		if err == nil {
			if !wasReady {
				c.log.Info("cluster state recovered; accepting joins")
			}
			return
		}
		c.log.Warn("recovery after NATS outage failed; retrying", "err", err)
		select {
		case <-c.stop:
			return
		case <-time.After(c.opt.Heartbeat):
		}
	}
}

func (c *Cluster) recoverOnce() error {
	ctx := context.Background()
	for {
		c.pendMu.Lock()
		pend := c.pending
		c.pending = nil
		if len(pend) == 0 {
			c.pendMu.Unlock()
			break
		}
		c.pendMu.Unlock()
		for i, p := range pend {
			o, err := c.transact(ctx, p.k, removeMember(p.id))
			if err != nil {
				c.pendMu.Lock()
				c.pending = append(pend[i:], c.pending...)
				c.pendMu.Unlock()
				return err
			}
			c.pendingLeft(p.k, p.id, o)
			c.deliver(p.k, o, p.id)
		}
	}
	if err := c.reconcile(ctx); err != nil {
		return err
	}
	// Leaves queued while reconciling are written before joins resume.
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	if len(c.pending) > 0 {
		return errPendingLeaves
	}
	c.ready.Store(true)
	c.met.connected.Set(1)
	return nil
}

// reconcile compares every local seat with the bucket and drops the
// sockets whose view is stale: they missed messages while this node was
// cut off, and an SDK that reconnects and joins again converges, where a
// half-informed socket would wait forever.
func (c *Cluster) reconcile(ctx context.Context) error {
	type view struct {
		m       *member
		k       hub.Key
		partner string
	}
	var views []view
	for _, m := range c.members() {
		m.mu.Lock()
		for k, s := range m.seats {
			if !s.joining {
				views = append(views, view{m, k, s.partner})
			}
		}
		m.mu.Unlock()
	}
	for _, v := range views {
		val, _, err := c.load(ctx, roomKey(v.k))
		if err != nil {
			return err
		}
		r := decodeRoom(val)
		p, _ := r.Partner(v.m.id)
		if r.Has(v.m.id) && p == v.partner {
			continue
		}
		if v.m.partnerOf(v.k) != v.partner {
			continue // a transition arrived meanwhile; the next check decides
		}
		c.met.reconciled.Inc()
		c.log.Info("dropping socket whose room changed during the NATS outage",
			"app", v.k.App, "stream", v.k.Stream, "member", v.m.id)
		v.m.conn.Kill("room changed while the node was cut off from the cluster")
	}
	return nil
}

// sweep removes, from the rooms of local members, partners on nodes that
// are no longer alive, and sends those members stop. Rooms where only a
// dead node had members are cleaned lazily, by the next join.
func (c *Cluster) sweep() {
	now := time.Now()
	type target struct {
		k       hub.Key
		partner string
	}
	var ts []target
	for _, m := range c.members() {
		m.mu.Lock()
		for k, s := range m.seats {
			if !s.joining && s.partner != "" && !c.live.alive(nodeOf(s.partner), now) {
				ts = append(ts, target{k, s.partner})
			}
		}
		m.mu.Unlock()
	}
	for _, t := range ts {
		// Give up early when closing or cut off from NATS; the periodic
		// sweep retries what is left.
		select {
		case <-c.stop:
			return
		default:
		}
		if !c.connected() {
			return
		}
		o, err := c.transact(context.Background(), t.k, removeMember(t.partner))
		if err != nil {
			c.log.Warn("could not remove a dead node's member", "app", t.k.App, "stream", t.k.Stream, "err", err)
			continue
		}
		if o.changed {
			c.evictions.Add(1)
			c.log.Info("removed member of a dead node", "app", t.k.App, "stream", t.k.Stream, "member", t.partner)
			c.removedBy(t.k, t.partner, o, hub.ReasonNodeFailure)
			c.deliver(t.k, o, "")
		}
	}
}
