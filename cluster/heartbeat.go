package cluster

import (
	"context"
	"errors"
	"time"
)

// heartbeatLoop announces this node, probes and declares dead the nodes
// that fell silent, and measures the NATS round trip.
func (c *Cluster) heartbeatLoop() {
	t := time.NewTicker(c.opt.Heartbeat)
	defer t.Stop()
	hb := []byte(c.inc)
	last := time.Now()
	late := 0 // ticks in a row that came late
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		// A tick that comes late means this process did not run: the
		// heartbeats it has not read yet are queued, not missing. Under
		// lasting overload it judges every third tick all the same.
		starved := now.Sub(last) > 2*c.opt.Heartbeat
		if starved {
			late++
		} else {
			late = 0
		}
		starved = starved && late%3 != 0
		last = now
		if !c.connected() {
			continue
		}
		c.ctl.Publish(subjectHeartbeat, hb)
		if c.ready.Load() {
			if starved {
				c.met.nearMisses.WithLabelValues("late_tick").Inc()
			} else {
				suspects, sweep := c.live.Check(now)
				for _, inc := range suspects {
					c.spawn(func() { c.probeNode(inc) })
				}
				// Sweep now and then anyway, in case a removal failed
				// and must be retried.
				if sweep || i%16 == 0 {
					c.startSweep()
				}
			}
		}
		c.met.nodes.Set(float64(c.live.Count(now)))
		if i%20 == 0 {
			start := time.Now()
			ctx, cancel := c.opCtx(context.Background())
			if err := c.ctl.Flush(ctx); err == nil {
				c.met.rtt.Set(time.Since(start).Seconds())
			}
			cancel()
		}
	}
}

// confirmDead reports whether a member of incarnation inc, which this
// node believes dead, really is: before a join evicts it. A life that can
// never come back is; one declared dead after silence is asked directly
// first, since a partition may have healed before its heartbeat reached
// this node (a dead process has no subscription: NATS answers at once).
func (c *Cluster) confirmDead(ctx context.Context, inc string) bool {
	if c.live.Final(inc) || !c.connected() {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, min(c.opt.DeadAfter, 500*time.Millisecond))
	defer cancel()
	if _, err := c.ctl.Request(ctx, ctlSubject(inc), []byte{msgPing}); err != nil {
		return true
	}
	if c.live.Heard(inc, time.Now()).Revived {
		c.revived(inc)
	}
	c.log.Info("node declared dead answers again", "other", inc)
	return false
}

// probeNode asks a silent incarnation directly whether it is alive before
// declaring it dead: a starved process answers late but answers, while a
// dead one has no subscription left (NATS says so at once) or never
// answers.
func (c *Cluster) probeNode(inc string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.DeadAfter)
	defer cancel()
	_, err := c.ctl.Request(ctx, ctlSubject(inc), []byte{msgPing})
	switch {
	case err == nil:
		c.live.Cleared(inc, time.Now())
		c.met.nearMisses.WithLabelValues("probe_answered").Inc()
		c.log.Info("node missed heartbeats but answered a probe", "other", inc, "silence", c.opt.DeadAfter)
		return
	case !c.connected() || !c.ready.Load():
		c.live.Cleared(inc, time.Now()) // we cannot tell; recovery resets the clock anyway
		return
	case !errors.Is(err, errNoResponders) && c.flushWithin(c.opt.DeadAfter/2) != nil:
		// No answer says as much about this node as about the other: a
		// node cut off from NATS without knowing it yet (a partition)
		// would otherwise condemn every other node.
		c.live.Cleared(inc, time.Now())
		c.met.nearMisses.WithLabelValues("self_cut_off").Inc()
		c.log.Warn("a silent node did not answer, but neither does NATS: judging nobody", "other", inc)
		return
	}
	if !c.live.Declare(inc) {
		return // a heartbeat came meanwhile
	}
	c.met.deaths.Inc()
	c.out.Forget(inc, true)
	c.log.Warn("node declared dead: no heartbeat and no answer to a probe", "dead", inc, "after", c.opt.DeadAfter, "probe", err)
	c.ctl.Publish(subjectDead, []byte(inc))
	c.startSweep()
}

func (c *Cluster) onHeartbeat(m busMsg) {
	inc := string(m.Data)
	if inc == c.inc {
		return
	}
	h := c.live.Heard(inc, time.Now())
	switch {
	case h.Usurped:
		if !c.superseded.Swap(true) {
			c.ready.Store(false)
			c.met.connected.Set(0)
			c.log.Error("another process has started with this node_id: this one stops taking joins and drops its sockets", "other", inc)
			// The others have buried this incarnation: its sockets' relays
			// would go nowhere. Their clients rejoin elsewhere.
			for _, m := range c.members() {
				m.conn.Kill("another process took this node id")
			}
		}
	case h.Revived:
		c.log.Warn("node declared dead is back", "other", inc)
		c.revived(inc)
	case h.Late:
		c.met.nearMisses.WithLabelValues("late_heartbeat").Inc()
	}
	for _, old := range h.Superseded {
		c.out.Forget(old, false)
	}
	if len(h.Superseded) > 0 {
		c.log.Warn("node restarted: its previous life is dead", "other", inc, "previous", h.Superseded)
		c.startSweep()
	}
}

// onBye: a node stops cleanly. Its members should have left already;
// any left behind are removed like a dead node's, but nothing died.
func (c *Cluster) onBye(m busMsg) {
	inc := string(m.Data)
	if inc == c.inc {
		return
	}
	c.live.Left(inc)
	c.out.Forget(inc, false)
	c.met.nodes.Set(float64(c.live.Count(time.Now())))
	c.log.Info("node left the cluster", "other", inc)
	c.startSweep()
}

// onDead: a survivor has given up on a node. When that node is this one
// (our heartbeats were late, not lost), our sockets may have been removed
// from their rooms, so check every one.
func (c *Cluster) onDead(m busMsg) {
	if string(m.Data) != c.inc {
		return
	}
	c.log.Warn("another node declared this node dead; reconciling")
	c.spawn(c.recover)
}

// flushWithin flushes the control connection within d.
func (c *Cluster) flushWithin(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.ctl.Flush(ctx)
}
