package cluster

import (
	"time"

	"github.com/duet-rtc/duet/cluster/live"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// effects carries out what a committed transition reports (its notes),
// on the node whose write committed it, so that each happens once in the
// cluster: the operators' events; the counters; the watch of a hold this
// node wrote and the index of held rooms; and, for a seat that is no
// longer held or was taken back, word to the nodes concerned (sendGone).
// It runs after deliver, and under no lock.
func (c *Cluster) effects(k hub.Key, o outcome) {
	if !o.changed {
		return
	}
	now := time.Now()
	held, tidy := false, false
	for _, n := range o.step.Notes {
		switch n.Kind {
		case room.NoteHeld:
			held = true
			if n.Seat.HeldBy == c.inc {
				c.watchHold(k, n.Seat.Member, millis(n.Seat.Held))
			}
			c.log.Info("holding seat", "app", k.App, "stream", k.Stream, "member", n.Seat.Member,
				"own_socket", nodeOf(n.Seat.Member) == c.inc, "grace", c.opt.ReconnectGrace)
		case room.NoteResumed:
			c.resumes.Add(1)
			tidy = tidy || n.Prev.IsHeld()
			c.sendGone(k, n.Prev.Member, n.Prev.HeldBy)
		case room.NoteLeft:
			switch {
			case n.Seat.IsHeld():
				tidy = true
				c.sendGone(k, n.Seat.Member, n.Seat.HeldBy)
				if n.Reason == hub.ReasonTimeout {
					c.expiries.Add(1)
					c.log.Info("held seat expired", "app", k.App, "stream", k.Stream, "member", n.Seat.Member, "grace", c.opt.ReconnectGrace)
				}
			case n.Reason == hub.ReasonEvicted:
				c.evictions.Add(1)
				c.log.Info("evicted unresponsive member", "app", k.App, "stream", k.Stream, "member", n.Seat.Member)
			case n.Reason == hub.ReasonNodeFailure:
				c.evictions.Add(1)
				c.log.Info("removed member of a dead node", "app", k.App, "stream", k.Stream, "member", n.Seat.Member)
			}
		}
		if c.ops.observer != nil {
			if ev, ok := hub.EventOf(k, n, now, c.memberOf); ok {
				ev.Node = c.id
				c.ops.observer.RoomEvent(ev)
			}
		}
	}
	if first := o.after.FirstHold(); held && !first.IsZero() {
		c.putHoldIndex(k, millis(first))
	}
	if tidy {
		c.spawn(func() { c.tidyHoldIndex(k) })
	}
}

// memberOf describes a seat for operators: its id names its node.
func (c *Cluster) memberOf(s room.Seat[string]) hub.Member {
	node, _ := live.Split(nodeOf(s.Member)) // operators know nodes by node_id
	return hub.MemberOf(s, s.Member, node)
}
