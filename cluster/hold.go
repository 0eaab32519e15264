package cluster

import (
	"context"
	"net/netip"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// Held seats (issue #12). A member that joined with resumable: true and
// whose socket ends without leave keeps its seat for the reconnect grace:
// the node holding the socket marks the seat held in the bucket (a
// deadline in the member's value), by compare-and-set like every change;
// when the node itself dies, the survivor that sweeps it does. A join on
// any node that brings the seat's resume token takes the seat back (it
// replaces the member id, see resume.go).
//
// The grace is enforced by whichever node's write commits first among
// those watching the seat: the node that wrote the hold, the partner's
// node, and every node's periodic look at the bucket's index of held
// rooms (holdindex.go) for seats nobody watches any more (their nodes are
// gone). Compare-and-set makes the expiry, and its stop and webhooks,
// happen once.
//
// What the partner relays meanwhile is kept by the partner's own node
// (keep.go); room messages for the held seat are kept in its value.

var _ hub.Holder = (*Cluster)(nil)

// Clock gives held seats their deadlines and timers. Tests use a manual
// one so that a grace runs out without waiting.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f after d and returns a function that cancels it,
	// reporting whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// ReconnectGrace implements hub.Holder.
func (c *Cluster) ReconnectGrace() time.Duration { return c.opt.ReconnectGrace }

func (c *Cluster) holding() bool { return c.opt.ReconnectGrace > 0 }

func (c *Cluster) nowMillis() int64 { return c.clock.Now().UnixMilli() }

// deadline is when a seat held now is given up (unix ms).
func (c *Cluster) deadline() int64 { return c.nowMillis() + c.opt.ReconnectGrace.Milliseconds() }

// untilDeadline is the time left before deadline, 0 if it has passed.
func (c *Cluster) untilDeadline(until int64) time.Duration {
	return max(time.Duration(until-c.nowMillis())*time.Millisecond, 0)
}

// holdWatch is a hold this node wrote: it gives the seat up when the grace
// ends, unless a resume or the partner's node came first.
type holdWatch struct {
	until int64
	stop  func() bool
	// capped: the hold was counted against addr in HoldCaps (this node
	// wrote it for one of its own sockets), and is given back with the
	// watch.
	capped bool
	addr   netip.Addr
}

// release gives back w's place in HoldCaps. The caller holds holdMu and
// has taken w out of c.holds.
func (c *Cluster) releaseWatchLocked(w *holdWatch) {
	if w.capped {
		c.opt.HoldCaps.Release(w.addr)
		w.capped = false
	}
}

// watchHold records that this node wrote the hold of member id in k,
// running until the deadline.
func (c *Cluster) watchHold(k hub.Key, id string, until int64) {
	c.watchHoldCapped(k, id, until, false, netip.Addr{})
}

// watchHoldCapped is watchHold for a hold counted against addr in
// HoldCaps (capped), which the watch gives back when it ends.
func (c *Cluster) watchHoldCapped(k hub.Key, id string, until int64, capped bool, addr netip.Addr) {
	sid := seatID{id, k}
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	if c.holdsClosed {
		if capped {
			c.opt.HoldCaps.Release(addr)
		}
		return
	}
	if w := c.holds[sid]; w != nil {
		if w.until == until && !capped {
			return // watched already (leaveHeld counts it in HoldCaps)
		}
		w.stop()
		c.releaseWatchLocked(w)
	}
	w := &holdWatch{until: until, capped: capped, addr: addr}
	w.stop = c.clock.AfterFunc(c.untilDeadline(until), func() { c.holdDue(k, id, w) })
	c.holds[sid] = w
}

func (c *Cluster) holdDue(k hub.Key, id string, w *holdWatch) {
	sid := seatID{id, k}
	c.holdMu.Lock()
	mine := c.holds[sid] == w
	if mine {
		delete(c.holds, sid)
		c.releaseWatchLocked(w)
	}
	c.holdMu.Unlock()
	if mine {
		c.run(func() { c.expire(k, id, w.until, false) })
	}
}

// unwatchHold forgets a hold this node wrote (the seat was taken back or
// given up).
func (c *Cluster) unwatchHold(k hub.Key, id string) {
	sid := seatID{id, k}
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	if w := c.holds[sid]; w != nil {
		w.stop()
		delete(c.holds, sid)
		c.releaseWatchLocked(w)
	}
}

// watching reports whether this node watches the hold of member id in k.
func (c *Cluster) watching(k hub.Key, id string) bool {
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	return c.holds[seatID{id, k}] != nil
}

// stopHolds stops watching every hold (the node closes: the partners'
// nodes and the others' sweeps take over).
func (c *Cluster) stopHolds() {
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	c.holdsClosed = true
	for sid, w := range c.holds {
		w.stop()
		delete(c.holds, sid)
		c.releaseWatchLocked(w)
	}
}

// leaveHeld takes local member m out of k because its socket went away
// for reason, keeping its seat for the grace (room.Step.Lost). The
// partner (wherever it is) hears peerReconnecting if it is resumable. The
// caller took the hold's place in HoldCaps for addr: the watch of the
// hold gives it back, or leaveHeld does when it writes none.
func (c *Cluster) leaveHeld(m *member, k hub.Key, reason hub.Reason, addr netip.Addr) {
	until := c.deadline()
	p := pendingLeave{id: m.id, k: k, reason: reason, until: until}
	if c.queueLeaveIfCutOff(p) {
		// Written once NATS is back, then watched uncounted.
		c.opt.HoldCaps.Release(addr)
		c.dropHeldSeat(m, k, nil)
		return
	}
	o, err := c.transact(context.Background(), k, func(t *txn) error {
		t.Hold(m.id, since(until))
		return nil
	})
	if err != nil {
		c.log.Warn("hold not written; retrying after the next reconnect", "app", k.App, "stream", k.Stream, "err", err)
		c.opt.HoldCaps.Release(addr)
		c.queueLeave(p)
		c.dropHeldSeat(m, k, nil)
		return
	}
	if !o.changed || millis(heldBy(o, m.id, c.inc)) != until {
		// Removed meanwhile (an operator, a probe) or held already.
		c.opt.HoldCaps.Release(addr)
		c.dropHeldSeat(m, k, nil)
		c.deliver(k, o, m.id)
		c.effects(k, o)
		return
	}
	// The partner first: frames that reach this node for the seat from now
	// on are sent back to the partner's node, which must know of the hold
	// before they arrive (same link, in order).
	c.deliver(k, o, m.id)
	c.dropHeldSeat(m, k, func() { c.watchHoldCapped(k, m.id, until, true, addr) })
	c.effects(k, o) // finds the hold watched already
}

// heldBy is member id's hold as written by incarnation by in o, or zero.
func heldBy(o outcome, id, by string) time.Time {
	for _, n := range o.step.Notes {
		if n.Kind == room.NoteHeld && n.Seat.Member == id && n.Seat.HeldBy == by {
			return n.Seat.Held
		}
	}
	return time.Time{}
}

// dropHeldSeat forgets local member m's seat in k, whose socket is gone,
// without a word to anyone. watch, when this node wrote the seat's hold,
// starts watching it, under the member's lock: a frame for the seat finds
// either the seat or the watch (deliverFrame).
func (c *Cluster) dropHeldSeat(m *member, k hub.Key, watch func()) {
	m.mu.Lock()
	c.dropSeatLocked(m, k)
	if watch != nil {
		watch()
	}
	m.mu.Unlock()
}

// expire gives member id's seat in k up if it is still held until that
// deadline (room.Step.Expire: a resume, or a later hold, is left alone):
// the seat is freed and the partner gets stop, reason timeout. Whichever
// node's write commits does it, and reports it, once. overflow: the
// partner's node had more to keep for the seat than it may, and the hold
// ends now.
func (c *Cluster) expire(k hub.Key, id string, until int64, overflow bool) {
	if !c.ready.Load() {
		// Cut off from NATS: try again later (as will the other watchers,
		// and every node's sweep of the hold index).
		c.retryExpire(k, id, until, overflow)
		return
	}
	o, err := c.transact(context.Background(), k, func(t *txn) error {
		t.Expire(id, since(until), overflow)
		return nil
	})
	if err != nil {
		c.log.Warn("could not give up a held seat; retrying", "app", k.App, "stream", k.Stream, "member", id, "err", err)
		c.retryExpire(k, id, until, overflow)
		return
	}
	c.unwatchHold(k, id)
	if o.changed && overflow {
		c.log.Info("held seat given up: too much to keep for it", "app", k.App, "stream", k.Stream, "member", id, "hold_bytes", c.rules.KeepLimit())
	}
	c.deliver(k, o, "")
	c.effects(k, o)
}

// expireRetry is how long a watcher waits before it tries again to give
// up a held seat whose end it could not write.
const expireRetry = time.Second

// retryExpire tries expire again after expireRetry: a hold whose end no
// watcher could write (NATS unreachable at its deadline) must not stay
// held for good. Once the seat is gone or taken back, the retry finds
// nothing to do and stops.
func (c *Cluster) retryExpire(k hub.Key, id string, until int64, overflow bool) {
	c.clock.AfterFunc(expireRetry, func() {
		c.run(func() { c.expire(k, id, until, overflow) })
	})
}

// sendGone tells the nodes concerned with member id's seat in k (its own,
// and the one that wrote its hold) that it no longer has it.
func (c *Cluster) sendGone(k hub.Key, id, heldBy string) {
	incs := []string{nodeOf(id)}
	if heldBy != "" && heldBy != incs[0] {
		incs = append(incs, heldBy)
	}
	ev := event{flags: evGone, partner: id}
	for _, inc := range incs {
		switch {
		case inc == c.inc:
			c.onGone(k, id)
		case c.live.Alive(inc, time.Now()):
			c.met.eventsOut.Inc()
			c.out.Send(inc, msgEvent, sender{}, 40+len(k.App)+len(k.Stream)+len(id), func(b []byte) []byte {
				return eventBody(b, 0, k, ev)
			})
		}
	}
}

// onGone: member id no longer holds its seat in k. A hold this node wrote
// is no longer watched; a local socket still in the seat (half-open: its
// client came back on a new one) is dropped without a room transition:
// its cleanup finds no seat for k here.
func (c *Cluster) onGone(k hub.Key, id string) {
	c.unwatchHold(k, id)
	inc, num, ok := splitMember(id)
	if !ok || inc != c.inc {
		return
	}
	m := c.memberByNum(num)
	if m == nil {
		return
	}
	m.mu.Lock()
	s := m.seats[k]
	if s == nil || s.joining {
		m.mu.Unlock()
		return
	}
	c.dropSeatLocked(m, k)
	m.mu.Unlock()
	// Killed after the lock: Kill closes the socket and logs. Its cleanup
	// finds no seat for k here and leaves nothing.
	m.conn.Kill("its seat was taken back by a new socket")
	c.log.Info("socket replaced by a resume elsewhere: dropped", "app", k.App, "stream", k.Stream, "member", id)
}
