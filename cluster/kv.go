package cluster

import (
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
	acts      []room.Action[string]
	prev, rev uint64 // revision read, and written (prev when unchanged)
	changed   bool
	reason    hub.Reason // why a member went, told to its partner with stop (0: not said)
}

// transact reads room k, lets f change it and writes it back on the
// revision read, rerunning f on a fresh read when another node wrote
// first. f must be a pure function of the room it is given. When f fails
// the outcome still holds the room as read.
func (c *Cluster) transact(ctx context.Context, k hub.Key, f func(r *room.Room[string]) ([]room.Action[string], error)) (outcome, error) {
	key := roomKey(k)
	for range maxAttempts {
		val, rev, err := c.load(ctx, key)
		if err != nil {
			return outcome{}, err
		}
		st := decodeRoom(val)
		r := st.room
		before := r
		acts, err := f(&r)
		if err != nil {
			return outcome{r: before, prev: rev, rev: rev}, err
		}
		if sameMembers(&before, &r) {
			return outcome{r: r, acts: acts, prev: rev, rev: rev}, nil
		}
		newRev, err := c.store(ctx, key, rev, &r, st.extra)
		if isConflict(err) {
			c.met.conflicts.Inc()
			continue
		}
		if err != nil {
			return outcome{}, err
		}
		return outcome{r: r, acts: acts, prev: rev, rev: newRev, changed: true}, nil
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
func (c *Cluster) store(ctx context.Context, key string, rev uint64, r *room.Room[string], extra map[string]memberValue) (uint64, error) {
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
		newRev, err = c.kv.Load().Create(ctx, key, encodeRoom(r, extra))
	default:
		op = "update"
		newRev, err = c.kv.Load().Update(ctx, key, encodeRoom(r, extra), rev)
	}
	c.met.kvOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return newRev, err
}

// deliver sends the messages of a committed transition to its members,
// except self, which the caller serves itself. Each member gets one event
// with all its messages, so they stay together and in order. reason says
// why a member left, for a stop among them (0 for a join).
func (c *Cluster) deliver(k hub.Key, o outcome, self string, reason hub.Reason) {
	if !o.changed {
		return
	}
	var order []string
	kinds := map[string][]room.Kind{}
	for _, a := range o.acts {
		if a.To == self {
			continue
		}
		if _, ok := kinds[a.To]; !ok {
			order = append(order, a.To)
		}
		kinds[a.To] = append(kinds[a.To], a.Kind)
	}
	for _, to := range order {
		p, _ := o.r.Partner(to)
		c.sendEvent(to, k, event{prev: o.prev, rev: o.rev, partner: p, reason: reason, kinds: kinds[to]})
	}
}
