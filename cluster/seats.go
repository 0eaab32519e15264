package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// gapWait is how long a room transition that arrived ahead of an earlier
// one waits for it. Transitions of one room may come from different nodes,
// so they can overtake each other on the way; a missing one that never
// comes was lost with a node that died between its write and its publish,
// and then the later ones are applied anyway.
const gapWait = time.Second

// member is a local connection as the cluster knows it.
//
// Lock order: Cluster.mu (the member tables) and a member's mu are not held
// together. A member's mu may be held while its conn's Send is called, so
// that the room's messages keep their order; Send takes only the conn's
// own lock, after this one, and never blocks or does I/O (see hub.Conn).
type member struct {
	conn hub.Conn
	num  uint64
	id   string

	mu    sync.Mutex
	seats map[hub.Key]*seat
}

// seat is a local member's place in one room: its cached view of the
// room, so that relaying never reads the bucket.
type seat struct {
	joining bool    // the join's write is in flight: transitions wait
	rev     uint64  // membership revision this view reflects
	partner string  // member id of the partner; "" while waiting
	pending []event // transitions that overtook an earlier one
	gap     *time.Timer
}

// member returns c's member, creating it when create is set.
func (c *Cluster) member(conn hub.Conn, create bool) *member {
	c.mu.RLock()
	m := c.byConn[conn]
	c.mu.RUnlock()
	if m != nil || !create {
		return m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m = c.byConn[conn]; m == nil {
		num := c.nextNum.Add(1)
		m = &member{conn: conn, num: num, id: memberID(c.inc, num), seats: map[hub.Key]*seat{}}
		c.byConn[conn], c.byNum[num] = m, m
	}
	return m
}

func (c *Cluster) memberByNum(num uint64) *member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byNum[num]
}

// forgetIfIdle drops m once it is in no room. Only the connection's own
// goroutine joins and leaves, so nothing adds a seat concurrently.
func (c *Cluster) forgetIfIdle(m *member) {
	m.mu.Lock()
	idle := len(m.seats) == 0
	m.mu.Unlock()
	if !idle {
		return
	}
	c.mu.Lock()
	if c.byConn[m.conn] == m {
		delete(c.byConn, m.conn)
		delete(c.byNum, m.num)
	}
	c.mu.Unlock()
}

// seated records that one more local member is in room k.
func (c *Cluster) seated(k hub.Key, delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.rooms[k] + delta; n > 0 {
		c.rooms[k] = n
	} else {
		delete(c.rooms, k)
	}
}

// dropSeatLocked removes m's seat in k. The caller holds m.mu.
func (c *Cluster) dropSeatLocked(m *member, k hub.Key) {
	s := m.seats[k]
	if s == nil {
		return
	}
	if s.gap != nil {
		s.gap.Stop()
	}
	delete(m.seats, k)
	if !s.joining {
		c.seated(k, -1)
	}
}

// applyEvent applies a room transition to local member m, in revision
// order, sending its messages.
func (c *Cluster) applyEvent(m *member, k hub.Key, ev event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seats[k]
	if s == nil {
		return // m has left the room since
	}
	if s.joining {
		s.pending = append(s.pending, ev)
		return
	}
	if ev.rev <= s.rev {
		return
	}
	if ev.prev != s.rev {
		s.pending = append(s.pending, ev)
		if s.gap == nil {
			s.gap = time.AfterFunc(gapWait, func() { c.closeGap(m, k, s) })
		}
		return
	}
	c.applyLocked(m, k, s, ev)
	c.drainLocked(m, k, s, false)
}

// applyLocked sends a transition's messages. ev.reason (why the partner
// left, nodeFailure for a dead node) becomes the stop's reason field.
func (c *Cluster) applyLocked(m *member, k hub.Key, s *seat, ev event) {
	s.rev, s.partner = ev.rev, ev.partner
	c.partnerChanged(m.id, k, ev.partner)
	for _, kind := range ev.kinds {
		if kind == room.Stop && ev.reason != 0 {
			m.conn.Send(hub.StopFrame(k.Stream, ev.reason))
			continue
		}
		m.conn.Send(hub.Frame(kind, k.Stream))
	}
}

// drainLocked applies the pending transitions that now follow on; force
// applies them all, in order, skipping a missing one.
func (c *Cluster) drainLocked(m *member, k hub.Key, s *seat, force bool) {
	slices.SortFunc(s.pending, func(a, b event) int { return int64Cmp(a.rev, b.rev) })
	i := 0
	for ; i < len(s.pending); i++ {
		ev := s.pending[i]
		if ev.rev <= s.rev {
			continue
		}
		if ev.prev != s.rev && !force {
			break
		}
		c.applyLocked(m, k, s, ev)
	}
	s.pending = slices.Delete(s.pending, 0, i)
	switch {
	case len(s.pending) == 0 && s.gap != nil:
		s.gap.Stop()
		s.gap = nil
	case len(s.pending) > 0 && s.gap == nil:
		s.gap = time.AfterFunc(gapWait, func() { c.closeGap(m, k, s) })
	}
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func int64Cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// closeGap gives up waiting for a lost transition.
func (c *Cluster) closeGap(m *member, k hub.Key, s *seat) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seats[k] != s || s.joining {
		return
	}
	s.gap = nil
	if len(s.pending) > 0 {
		c.log.Warn("room transition lost; applying later ones", "app", k.App, "stream", k.Stream, "member", m.id)
		c.drainLocked(m, k, s, true)
	}
}

// members returns the local members. Callers lock each one after this
// returns: the lock order is member, then cluster.
func (c *Cluster) members() []*member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ms := make([]*member, 0, len(c.byConn))
	for _, m := range c.byConn {
		ms = append(ms, m)
	}
	return ms
}

func (c *Cluster) stopGapTimers() {
	for _, m := range c.members() {
		m.mu.Lock()
		for _, s := range m.seats {
			if s.gap != nil {
				s.gap.Stop()
			}
		}
		m.mu.Unlock()
	}
}

// partnerOf returns m's partner in k if m is seated there and paired.
func (m *member) partnerOf(k hub.Key) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.seats[k]; s != nil && !s.joining {
		return s.partner
	}
	return ""
}

// deliverFrame hands a relayed frame to local member num if its partner
// in k is still from: a frame that crossed a leave on the way is dropped,
// as it would have been refused on a single node.
func (c *Cluster) deliverFrame(num uint64, from string, k hub.Key, frame []byte) {
	m := c.memberByNum(num)
	if m == nil || m.partnerOf(k) != from {
		return
	}
	m.conn.Send(frame)
}

// onData handles this node's data subject. NATS calls it on one goroutine,
// in the order messages arrived, so frames and transitions from one node
// keep their order; the link drops repeats and what follows a gap until
// the sender fills it.
func (c *Cluster) onData(msg *nats.Msg) {
	if len(msg.Data) == 0 {
		return
	}
	typ, from, epoch, seq, body, err := decodeLink(msg.Data)
	if err != nil {
		c.log.Warn("malformed cluster message", "err", err)
		return
	}
	if typ == msgSync {
		c.in.sync(from, epoch, seq)
		return
	}
	if !c.in.accept(from, epoch, seq) {
		return
	}
	switch typ {
	case msgFrame:
		to, from, k, frame, err := decodeFrame(body)
		if err != nil {
			c.log.Warn("malformed cluster frame", "err", err)
			return
		}
		c.met.framesIn.Inc()
		c.deliverFrame(to, from, k, frame)
	case msgEvent:
		to, k, ev, err := decodeEvent(body)
		if err != nil {
			c.log.Warn("malformed cluster event", "err", err)
			return
		}
		c.met.eventsIn.Inc()
		if m := c.memberByNum(to); m != nil {
			c.applyEvent(m, k, ev)
		}
	}
}

// onCtl answers probes and kills for local members.
func (c *Cluster) onCtl(msg *nats.Msg) {
	if len(msg.Data) == 0 {
		return
	}
	if msg.Data[0] == msgPing { // is this incarnation alive?
		msg.Respond([]byte{1})
		return
	}
	to, reason, err := decodeCtl(msg.Data)
	if err != nil {
		return
	}
	m := c.memberByNum(to)
	switch msg.Data[0] {
	case msgProbe:
		if m == nil {
			msg.Respond([]byte{0})
			return
		}
		// A probe waits for the socket's pong: answer off the handler.
		c.spawn(func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.opt.ProbeTimeout)
			defer cancel()
			alive := byte(0)
			if m.conn.Probe(ctx) {
				alive = 1
			}
			msg.Respond([]byte{alive})
		})
	case msgKill:
		if m != nil {
			m.conn.Kill(reason)
		}
	}
}

// sendEvent delivers transition ev of room k to member to, wherever it is.
func (c *Cluster) sendEvent(to string, k hub.Key, ev event) {
	inc, num, ok := splitMember(to)
	if !ok {
		return
	}
	if inc == c.inc {
		if m := c.memberByNum(num); m != nil {
			c.applyEvent(m, k, ev)
		}
		return
	}
	if !c.live.alive(inc, time.Now()) {
		return // a dead node's member: nobody to tell
	}
	c.met.eventsOut.Inc()
	c.out.send(inc, msgEvent, nil, k, 40+len(k.App)+len(k.Stream)+len(ev.partner), func(b []byte) []byte {
		return eventBody(b, num, k, ev)
	})
}

// kill drops member id's socket, wherever it is.
func (c *Cluster) kill(id, reason string) {
	inc, num, ok := splitMember(id)
	if !ok {
		return
	}
	if inc == c.inc {
		if m := c.memberByNum(num); m != nil {
			m.conn.Kill(reason)
		}
		return
	}
	c.met.killsOut.Inc()
	c.nc.Publish(ctlSubject(inc), ctlMsg(msgKill, num, reason))
}

// probe reports whether member id answers a liveness probe before ctx
// ends. A member on a node that is gone, or that does not answer in time,
// is dead; when this node itself cannot reach NATS it cannot tell, and
// says alive (the join fails anyway).
func (c *Cluster) probe(ctx context.Context, id string) bool {
	inc, num, ok := splitMember(id)
	if !ok {
		return false
	}
	if inc == c.inc {
		m := c.memberByNum(num)
		ctx, cancel := context.WithTimeout(ctx, c.opt.ProbeTimeout)
		defer cancel()
		return m != nil && m.conn.Probe(ctx)
	}
	if !c.live.alive(inc, time.Now()) {
		return false
	}
	// The member's node waits ProbeTimeout for the pong; leave its answer
	// time to come back.
	ctx, cancel := context.WithTimeout(ctx, c.opt.ProbeTimeout+c.opt.ProbeTimeout/4+100*time.Millisecond)
	defer cancel()
	c.met.probesOut.Inc()
	reply, err := c.nc.RequestWithContext(ctx, ctlSubject(inc), ctlMsg(msgProbe, num, ""))
	switch {
	case err == nil:
		return len(reply.Data) == 1 && reply.Data[0] == 1
	case errorsIsAny(err, nats.ErrNoResponders, context.DeadlineExceeded, nats.ErrTimeout):
		return false
	}
	return true
}
