package cluster

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/duet-rtc/duet/cluster/kv"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// maxAttempts bounds the compare-and-set retries of one transition; only
// a storm of writes to one room could exhaust it.
const maxAttempts = 64

var errContended = errors.New("cluster: room update kept conflicting")

// txn is a room transition under way: a room.Step on the room as read.
// Its function runs again on a fresh read when another node wrote first,
// so it must be a pure function of the room (and of what it reads of the
// cluster's liveness).
type txn struct {
	*room.Step[string]
	s *seats // the room, which the step changes in place
}

// outcome is a room transition as committed to the bucket (or found
// unnecessary: changed is false).
type outcome struct {
	was, after seats              // the room as read, and afterwards
	step       *room.Step[string] // what the transition sends and reports
	prev, rev  uint64             // revision read, and written (prev when unchanged)
	changed    bool
}

// now is the time on the cluster's clock, to the millisecond: what the
// bucket stores.
func (c *Cluster) now() time.Time { return time.UnixMilli(c.clock.Now().UnixMilli()) }

// transact reads room k, lets f change it and writes it back on the
// revision read, rerunning f on a fresh read when another node wrote
// first. When f fails the outcome holds the room as read.
func (c *Cluster) transact(ctx context.Context, k hub.Key, f func(t *txn) error) (outcome, error) {
	key := roomKey(k)
	for range maxAttempts {
		val, rev, err := c.load(ctx, key)
		if err != nil {
			return outcome{}, err
		}
		was, cur := decodeRoom(val), decodeRoom(val)
		t := &txn{Step: cur.Begin(&c.rules, c.now(), c.inc), s: &cur}
		if err := f(t); err != nil {
			return outcome{was: was, after: was, step: t.Step, prev: rev, rev: rev}, err
		}
		o := outcome{was: was, after: cur, step: t.Step, prev: rev, rev: rev}
		after := encodeRoom(&cur)
		if bytes.Equal(encodeRoom(&was), after) {
			return o, nil
		}
		newRev, err := c.store(ctx, key, rev, cur.Empty(), after)
		if errors.Is(err, kv.ErrConflict) {
			c.met.conflicts.Inc()
			continue
		}
		if err != nil {
			return outcome{}, err
		}
		o.rev, o.changed = newRev, true
		return o, nil
	}
	return outcome{}, errContended
}

// load returns a room's stored value and revision; revision 0 means no
// such room.
func (c *Cluster) load(ctx context.Context, key string) ([]byte, uint64, error) {
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	start := time.Now()
	val, rev, err := c.bucket().Get(ctx, key)
	c.met.kvOps.WithLabelValues("get").Observe(time.Since(start).Seconds())
	if errors.Is(err, kv.ErrNotFound) {
		return nil, 0, nil
	}
	return val, rev, err
}

// store writes a room's value if its revision is still rev: it creates a
// new room, updates one, or deletes an emptied one (its revision is then
// 0: an empty room has nobody to tell).
func (c *Cluster) store(ctx context.Context, key string, rev uint64, empty bool, value []byte) (uint64, error) {
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	start := time.Now()
	var op string
	var err error
	var newRev uint64
	kv := c.bucket()
	switch {
	case empty:
		op = "delete"
		err = kv.Delete(ctx, key, rev)
	case rev == 0:
		op = "create"
		newRev, err = kv.Create(ctx, key, value)
	default:
		op = "update"
		newRev, err = kv.Update(ctx, key, value, rev)
	}
	c.met.kvOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return newRev, err
}

// deliver sends the messages of a committed transition to the members
// whose sockets are live, except self, which the caller serves itself
// (sendOwn). Every such member gets one event, with all its messages (or
// none: the revision still moves, and the event says who its partner is
// now and whether that partner's seat is held), so they stay together and
// in order.
func (c *Cluster) deliver(k hub.Key, o outcome, self string) {
	if !o.changed {
		return
	}
	if o.isMesh() {
		c.deliverMesh(k, o, self)
		return
	}
	kinds := map[string][]room.Kind{}
	reasons := map[string]hub.Reason{}
	var targets []string
	for _, st := range o.after.Members() {
		if !st.IsHeld() {
			targets = append(targets, st.Member)
		}
	}
	for _, m := range o.step.Msgs {
		if _, ok := kinds[m.To]; !ok && !o.after.Has(m.To) {
			targets = append(targets, m.To)
		}
		kinds[m.To] = append(kinds[m.To], m.Kind)
		if m.Kind == room.Stop {
			reasons[m.To] = m.Reason
		}
	}
	for _, to := range targets {
		if to != self {
			c.sendEvent(to, k, c.eventFor(o, to, kinds[to], reasons[to]))
		}
	}
}

// eventFor is member to's event for transition o: its messages, and its
// partner afterwards (its id, session and hold).
func (c *Cluster) eventFor(o outcome, to string, kinds []room.Kind, reason hub.Reason) event {
	if o.isMesh() {
		return event{prev: o.prev, rev: o.rev, mesh: true, peers: meshPeers(&o.after)}
	}
	ev := event{prev: o.prev, rev: o.rev, reason: reason, kinds: kinds}
	if p, ok := o.after.Partner(to); ok {
		ps := o.after.Seat(p)
		ev.partner, ev.held, ev.session = p, millis(ps.Held), ps.Session
		for _, n := range o.step.Notes {
			if n.Kind == room.NoteResumed && n.Seat.Member == p {
				ev.flags |= evResumed
			}
		}
	}
	return ev
}

// sendOwn sends member m the messages transition o has for it, in order
// (prelude is its join's).
func (c *Cluster) sendOwn(m *member, k hub.Key, o outcome, prelude []byte) {
	for _, msg := range o.step.Msgs {
		if msg.To == m.id {
			m.conn.Send(hub.Encode(k.Stream, msg, c.opt.ReconnectGrace, prelude))
		}
	}
}
