package cluster

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// maxAttempts bounds the compare-and-set retries of one transition; only
// a storm of writes to one room could exhaust it.
const maxAttempts = 64

var errContended = errors.New("cluster: room update kept conflicting")

// outcome is a room transition as committed to the bucket (or found
// unnecessary: changed is false).
type outcome struct {
	r         room.Room[string] // the room afterwards
	st        stored            // the room afterwards, with its members' values
	was       stored            // the room as read
	acts      []act             // the messages to send (those for held seats are kept in st)
	prev, rev uint64            // revision read, and written (prev when unchanged)
	changed   bool
	gone      []string          // members whose seat a new socket took (their nodes drop them)
	resumed   map[string]string // new member id -> the id whose seat it took back
}

// transact reads room k, lets f change it and writes it back on the
// revision read, rerunning f on a fresh read when another node wrote
// first. f must be a pure function of the transaction it is given (and of
// what it reads of the cluster's liveness). reason is the reason of the
// stops room.Leave produces in f (txn.leave may say another). When f fails
// the outcome still holds the room as read.
func (c *Cluster) transact(ctx context.Context, k hub.Key, reason hub.Reason, f func(t *txn) error) (outcome, error) {
	key := roomKey(k)
	for range maxAttempts {
		val, rev, err := c.load(ctx, key)
		if err != nil {
			return outcome{}, err
		}
		was := decodeRoom(val)
		t := &txn{stored: was.clone(), reason: reason, now: c.nowMillis()}
		if err := f(t); err != nil {
			return outcome{r: was.room, st: was, was: was, prev: rev, rev: rev}, err
		}
		t.finish()
		o := outcome{r: t.room, st: t.stored, was: was, acts: t.acts, prev: rev, rev: rev, gone: t.gone, resumed: t.resumed}
		after := t.encode()
		if bytes.Equal(was.encode(), after) {
			return o, nil
		}
		newRev, err := c.store(ctx, key, rev, &t.room, after)
		if isConflict(err) {
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
	e, err := c.kv.Load().Get(ctx, key)
	c.met.kvOps.WithLabelValues("get").Observe(time.Since(start).Seconds())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return e.Value(), e.Revision(), nil
}

// store writes r if the room's revision is still rev: it creates a new
// room, updates one, or deletes an emptied one (its revision is then 0:
// an empty room has nobody to tell).
func (c *Cluster) store(ctx context.Context, key string, rev uint64, r *room.Room[string], value []byte) (uint64, error) {
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	start := time.Now()
	var op string
	var err error
	var newRev uint64
	switch {
	case r.Empty():
		op = "delete"
		err = c.kv.Load().Delete(ctx, key, jetstream.LastRevision(rev))
	case rev == 0:
		op = "create"
		newRev, err = c.kv.Load().Create(ctx, key, value)
	default:
		op = "update"
		newRev, err = c.kv.Load().Update(ctx, key, value, rev)
	}
	c.met.kvOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return newRev, err
}

// deliver sends the messages of a committed transition to the members
// whose sockets are live, except self, which the caller serves itself.
// Every such member gets one event, with all its messages (or none: the
// revision still moves, and the event says who its partner is now and
// whether that partner's seat is held), so they stay together and in
// order. The members whose seat a new socket took are told to drop it.
func (c *Cluster) deliver(k hub.Key, o outcome, self string) {
	if !o.changed {
		return
	}
	kinds := map[string][]room.Kind{}
	reasons := map[string]hub.Reason{}
	targets := o.r.Members()
	for _, a := range o.acts {
		if _, ok := kinds[a.to]; !ok && !o.r.Has(a.to) {
			targets = append(targets, a.to)
		}
		kinds[a.to] = append(kinds[a.to], a.kind)
		if a.kind == room.Stop {
			reasons[a.to] = a.reason
		}
	}
	for _, to := range targets {
		if to == self || o.st.held(to) != 0 {
			continue
		}
		c.sendEvent(to, k, c.eventFor(o, to, kinds[to], reasons[to]))
	}
	for _, id := range o.gone {
		c.sendGone(k, id, o.was.val(id).HeldBy)
	}
}

// eventFor is member to's event for transition o: its messages, and its
// partner afterwards (its id, session and hold).
func (c *Cluster) eventFor(o outcome, to string, kinds []room.Kind, reason hub.Reason) event {
	ev := event{prev: o.prev, rev: o.rev, reason: reason, kinds: kinds}
	if p, ok := o.r.Partner(to); ok {
		pv := o.st.val(p)
		ev.partner, ev.held, ev.session = p, pv.HeldUntil, pv.Session
		if _, ok := o.resumed[p]; ok {
			ev.flags |= evResumed
		}
	}
	return ev
}
