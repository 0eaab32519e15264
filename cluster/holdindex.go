package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/duet-rtc/duet/cluster/kv"
	"github.com/duet-rtc/duet/hub"
)

// The index of held rooms: for every room with a held seat, a key
// "=held.<room key>" in the membership bucket (no app name starts with
// '='), whose value is the earliest deadline of its held seats (unix ms).
// It is a hint, never the truth: the room's own value is. The node that
// writes a hold puts the key; a node that frees a room's last held seat,
// and every node's periodic sweep, delete it once the room has no held
// seat left (on the key's revision, so that a hold written meanwhile
// keeps it).
//
// Every node sweeps the index every HoldSweep: seats whose grace ran out
// a while ago (holdSlack: their watchers had their chance) are given up
// by whichever node's write commits. So a held seat is freed, and its
// call_ended reported, even when the nodes that watched it are gone (a
// drained node's seats in rooms with no live member, a dead node's).

const holdPrefix = "=held."

// holdSlack is how late past its deadline a held seat must be before the
// sweep gives it up: its watchers go first.
const holdSlack = 1000 // ms

func holdKey(k hub.Key) string { return holdPrefix + roomKey(k) }

// putHoldIndex records that room k has a held seat, the first of which
// runs out at first (unix ms).
func (c *Cluster) putHoldIndex(k hub.Key, first int64) {
	ctx, cancel := c.opCtx(context.Background())
	defer cancel()
	if _, err := c.bucket().Put(ctx, holdKey(k), strconv.AppendInt(nil, first, 10)); err != nil {
		c.log.Warn("could not index a held seat; its watchers still give it up", "app", k.App, "stream", k.Stream, "err", err)
	}
}

// tidyHoldIndex makes room k's index key say what its value says: gone
// when no seat is held, else the first deadline.
func (c *Cluster) tidyHoldIndex(k hub.Key) {
	ctx, cancel := c.opCtx(context.Background())
	defer cancel()
	val, rev, err := c.bucket().Get(ctx, holdKey(k))
	if err != nil {
		return // none (kv.ErrNotFound), or the sweep tries again
	}
	c.tidyHoldEntry(ctx, k, rev, val)
}

func (c *Cluster) tidyHoldEntry(ctx context.Context, k hub.Key, rev uint64, val []byte) {
	room, _, err := c.load(ctx, roomKey(k))
	if err != nil {
		return
	}
	st := decodeRoom(room)
	first := millis(st.FirstHold())
	switch {
	case first == 0:
		c.bucket().Delete(ctx, holdKey(k), rev)
	case strconv.FormatInt(first, 10) != string(val):
		c.bucket().Update(ctx, holdKey(k), strconv.AppendInt(nil, first, 10), rev)
	}
}

// heldEntry is one key of the index.
type heldEntry struct {
	k     hub.Key
	rev   uint64
	val   []byte
	first int64
}

// heldIndex lists the index's keys for the rooms f selects.
func (c *Cluster) heldIndex(ctx context.Context, f hub.Filter) ([]heldEntry, error) {
	var entries []kv.Entry
	switch {
	case f.App != "" && f.Stream != "":
		key := holdKey(hub.Key{App: f.App, Stream: f.Stream})
		val, rev, err := c.bucket().Get(ctx, key)
		if errors.Is(err, kv.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		entries = []kv.Entry{{Key: key, Value: val, Rev: rev}}
	default:
		prefix := holdPrefix
		if f.App != "" {
			prefix += f.App + "."
		}
		var err error
		if entries, err = c.bucket().List(ctx, prefix); err != nil {
			return nil, err
		}
	}
	var out []heldEntry
	for _, e := range entries {
		k, ok := keyRoom(strings.TrimPrefix(e.Key, holdPrefix))
		if !ok || !f.Match(k) {
			continue
		}
		first, _ := strconv.ParseInt(string(e.Value), 10, 64)
		out = append(out, heldEntry{k: k, rev: e.Rev, val: e.Value, first: first})
	}
	return out, nil
}

// sweepHolds gives up the held seats whose grace ran out more than
// holdSlack ago, and tidies the index.
func (c *Cluster) sweepHolds() {
	if !c.ready.Load() {
		return
	}
	ctx, cancel := c.opCtx(context.Background())
	defer cancel()
	entries, err := c.heldIndex(ctx, hub.Filter{})
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			c.log.Warn("could not read the index of held seats", "err", err)
		}
		return
	}
	now := c.nowMillis()
	for _, e := range entries {
		if e.first != 0 && now < e.first+holdSlack {
			continue
		}
		val, _, err := c.load(ctx, roomKey(e.k))
		if err != nil {
			return
		}
		st := decodeRoom(val)
		for _, s := range st.Members() {
			if h := millis(s.Held); h != 0 && now >= h+holdSlack {
				c.expire(e.k, s.Member, h, false)
			}
		}
		c.tidyHoldEntry(ctx, e.k, e.rev, e.val)
	}
}

// startHoldSweep sweeps on its own goroutine unless a sweep runs already.
func (c *Cluster) startHoldSweep() {
	if c.holding() && c.holdSweeping.CompareAndSwap(false, true) {
		c.spawn(func() {
			defer c.holdSweeping.Store(false)
			c.sweepHolds()
		})
	}
}

// heldMembers lists the held seats of the rooms f selects, from the
// bucket: a seat whose node is gone has nobody else to list it.
func (c *Cluster) heldMembers(ctx context.Context, f hub.Filter) (map[hub.Key][]hub.Member, map[hub.Key]int64) {
	entries, err := c.heldIndex(ctx, f)
	if err != nil {
		return nil, nil
	}
	held, calls := map[hub.Key][]hub.Member{}, map[hub.Key]int64{}
	for _, e := range entries {
		val, _, err := c.load(ctx, roomKey(e.k))
		if err != nil {
			break
		}
		st := decodeRoom(val)
		for _, s := range st.Members() {
			if s.IsHeld() {
				m := c.memberOf(s)
				m.Held = true
				held[e.k] = append(held[e.k], m)
			}
		}
		calls[e.k] = millis(st.Call())
	}
	return held, calls
}

// holdSweepLoop sweeps the index every HoldSweep.
func (c *Cluster) holdSweepLoop() {
	t := time.NewTicker(c.opt.HoldSweep)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.startHoldSweep()
		}
	}
}
