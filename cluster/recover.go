package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// pendingLeave is a leave that happened while this node was cut off from
// NATS: the socket has gone locally, the room does not know yet.
type pendingLeave struct {
	id     string
	k      hub.Key
	reason hub.Reason
	until  int64 // a resumable member's seat is held until then (unix ms); 0: it leaves
}

// queueLeaveIfCutOff queues the leave when joins are refused (not
// connected, or still recovering), atomically with recovery's check that
// the queue is empty.
func (c *Cluster) queueLeaveIfCutOff(p pendingLeave) bool {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	if c.ready.Load() {
		return false
	}
	c.pending = append(c.pending, p)
	return true
}

func (c *Cluster) queueLeave(p pendingLeave) {
	c.pendMu.Lock()
	c.pending = append(c.pending, p)
	c.pendMu.Unlock()
}

// recover runs after a reconnect (or when another node declared this one
// dead, or the bucket stopped answering): it makes sure the bucket exists
// (NATS may have come back without its JetStream data), writes the leaves
// that happened meanwhile, drops the local sockets the cluster has moved
// on from (their partner left unheard, or a survivor removed them), and
// then accepts joins again. It retries, backing off, until it succeeds,
// the connection drops again (the next reconnect runs it afresh) or the
// node closes.
//
// One recovery runs at a time; a call while one runs makes it run once
// more when it ends (what called for it may have come too late for the
// running one to see), and returns at once. Not a mutex: a recovery does
// bucket operations and logs, which no lock is held across.
func (c *Cluster) recover() {
	c.recoverAgain.Store(true)
	for c.recovering.CompareAndSwap(false, true) {
		for c.recoverAgain.Swap(false) {
			c.recoverRun()
		}
		c.recovering.Store(false)
		if !c.recoverAgain.Load() {
			return
		}
	}
}

func (c *Cluster) recoverRun() {
	wasReady := c.ready.Load()
	if !wasReady {
		// Silence while we could hear nobody says nothing about the others.
		c.live.Reset(time.Now())
	}
	wait := c.opt.Heartbeat
	for attempt := 1; ; attempt++ {
		if !c.connected() {
			return
		}
		err := c.recoverOnce()
		if err == nil {
			if !wasReady || attempt > 1 {
				c.log.Info("cluster state recovered; accepting joins", "attempts", attempt)
			}
			return
		}
		if errors.Is(err, errPendingLeaves) {
			continue // sockets dropped while reconciling left: write those too
		}
		if errors.Is(err, errBucket) {
			c.ready.Store(false) // joins cannot be served: say so on /readyz
			c.met.connected.Set(0)
		}
		if attempt <= 3 || attempt%10 == 0 {
			c.log.Warn("recovery after NATS outage failed; retrying", "attempt", attempt, "err", err, "hint", startHint(err), "next", wait)
		}
		select {
		case <-c.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// errBucket wraps failures to reach the membership bucket at all.
var errBucket = errors.New("cluster: membership bucket unreachable")

// ensureBucket opens the membership bucket afresh, creating it again when
// NATS lost it.
func (c *Cluster) ensureBucket(ctx context.Context) error {
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	store, created, err := c.openStore(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", errBucket, err)
	}
	c.kv.Store(&kvBox{store})
	if created {
		c.met.rebuilt.Inc()
		c.log.Warn("the membership bucket was gone (NATS lost its JetStream data): created it again; "+
			"waiting members are registered again, paired ones dropped so that their clients rejoin", "bucket", c.opt.Bucket)
	}
	return nil
}

// checkBucket runs after a bucket operation failed while this node
// thought it was fine: if the bucket is gone or unreachable, joins are
// refused and recovery begins. At most one check runs at a time.
func (c *Cluster) checkBucket() {
	if !c.ready.Load() || !c.checking.CompareAndSwap(false, true) {
		return
	}
	c.spawn(func() {
		defer c.checking.Store(false)
		ctx, cancel := c.opCtx(context.Background())
		defer cancel()
		_, created, err := c.openStore(ctx)
		if err != nil || created {
			c.log.Warn("membership bucket lost or unreachable; recovering", "err", err, "recreated", created)
			c.ready.Store(false)
			c.met.connected.Set(0)
			c.recover()
		}
	})
}

func (c *Cluster) recoverOnce() error {
	ctx := context.Background()
	if err := c.ensureBucket(ctx); err != nil {
		return err
	}
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
			f := leaveTxn(p.id, p.reason)
			if p.until != 0 {
				f = func(t *txn) error {
					t.Hold(p.id, since(p.until))
					return nil
				}
			}
			o, err := c.transact(ctx, p.k, f)
			if err != nil {
				c.pendMu.Lock()
				c.pending = append(pend[i:], c.pending...)
				c.pendMu.Unlock()
				return err
			}
			c.deliver(p.k, o, p.id)
			c.effects(p.k, o)
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
	if c.superseded.Load() {
		return nil // a newer process has this node id: stay out
	}
	c.ready.Store(true)
	c.met.connected.Set(1)
	return nil
}

var errRoomTaken = errors.New("cluster: room taken meanwhile")

// reconcile compares every local seat with the bucket and drops the
// sockets whose view is stale: they missed messages while this node was
// cut off, and an SDK that reconnects and joins again converges, where a
// half-informed socket would wait forever. A waiting member whose room is
// gone from the bucket (NATS lost it) is registered again instead: it
// loses nothing, and the next joiner pairs with it.
func (c *Cluster) reconcile(ctx context.Context) error {
	type view struct {
		m       *member
		k       hub.Key
		s       *seat
		partner string
		held    int64
		mesh    []meshPeer
		rev     uint64
	}
	var views []view
	for _, m := range c.members() {
		m.mu.Lock()
		for k, s := range m.seats {
			if !s.joining {
				v := view{m: m, k: k, s: s, partner: s.partner, held: s.held, rev: s.rev}
				if s.mesh != nil {
					v.mesh = append([]meshPeer{{id: s.mesh.self, member: m.id}}, s.mesh.peers...)
				}
				views = append(views, v)
			}
		}
		m.mu.Unlock()
	}
	for _, v := range views {
		val, _, err := c.load(ctx, roomKey(v.k))
		if err != nil {
			return err
		}
		st := decodeRoom(val)
		if v.mesh != nil {
			if st.Has(v.m.id) && sameMesh(v.mesh, meshPeers(&st)) || v.m.revOf(v.k) != v.rev {
				continue // as this node knows it, or a transition arrived meanwhile
			}
			c.met.reconciled.Inc()
			c.log.Info("dropping socket whose room changed during the NATS outage",
				"app", v.k.App, "stream", v.k.Stream, "member", v.m.id)
			v.m.conn.Kill("room changed while the node was cut off from the cluster")
			continue
		}
		p, _ := st.Partner(v.m.id)
		held := int64(0)
		if p != "" {
			held = millis(st.Seat(p).Held)
		}
		if st.Has(v.m.id) && p == v.partner && held == v.held {
			continue
		}
		if v.m.partnerOf(v.k) != v.partner {
			continue // a transition arrived meanwhile; the next check decides
		}
		if st.Empty() && v.partner == "" {
			ok, err := c.reregister(ctx, v.m, v.k, v.s)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		c.met.reconciled.Inc()
		c.log.Info("dropping socket whose room changed during the NATS outage",
			"app", v.k.App, "stream", v.k.Stream, "member", v.m.id)
		v.m.conn.Kill("room changed while the node was cut off from the cluster")
	}
	return nil
}

// reregister writes waiting member m back into its room k, which the
// bucket no longer has, with its seat as this node last wrote it. It
// reports false when someone took the room meanwhile.
func (c *Cluster) reregister(ctx context.Context, m *member, k hub.Key, s *seat) (bool, error) {
	m.mu.Lock()
	own := s.own
	m.mu.Unlock()
	own.Member = m.id
	o, err := c.transact(ctx, k, func(t *txn) error {
		if !t.s.Empty() {
			return errRoomTaken
		}
		*t.s = room.Restore([]room.Seat[string]{own}, time.Time{})
		return nil
	})
	if errors.Is(err, errRoomTaken) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	if m.seats[k] == s && s.partner == "" {
		s.rev = o.rev
	}
	m.mu.Unlock()
	c.log.Info("waiting member registered again", "app", k.App, "stream", k.Stream, "member", m.id)
	return true, nil
}

// sweep removes, from the rooms of local members, partners on nodes that
// are no longer alive, and sends those members stop; a resumable partner
// has its seat held instead (its client may come back on another node),
// and the member hears peerReconnecting. Rooms where only a dead node had
// members are cleaned lazily, by the next join (and a seat that a dead
// member's client takes back by its token is its own again).
func (c *Cluster) sweep() {
	now := time.Now()
	type target struct {
		k       hub.Key
		partner string
	}
	var ts []target
	seen := map[target]bool{}
	add := func(t target) {
		if !seen[t] {
			seen[t] = true
			ts = append(ts, t)
		}
	}
	for _, m := range c.members() {
		m.mu.Lock()
		for k, s := range m.seats {
			if !s.joining && s.partner != "" && s.held == 0 && !c.live.Alive(nodeOf(s.partner), now) {
				add(target{k, s.partner})
			}
			if s.joining || s.mesh == nil {
				continue
			}
			for _, p := range s.mesh.peers {
				if !p.held && !c.live.Alive(nodeOf(p.member), now) {
					add(target{k, p.member})
				}
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
		o, err := c.transact(context.Background(), t.k, func(tx *txn) error {
			tx.Sweep(func(id string) bool { return id == t.partner })
			return nil
		})
		if err != nil {
			c.log.Warn("could not remove a dead node's member", "app", t.k.App, "stream", t.k.Stream, "err", err)
			continue
		}
		c.deliver(t.k, o, "")
		c.effects(t.k, o)
	}
}
