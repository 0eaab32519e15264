package cluster

import (
	"github.com/duet-rtc/duet/hub"
)

// While a member's partner has its seat held, what the member relays is
// kept by the member's own node (the sender's): it is the node that knows
// of the hold and sees every frame in order. When the seat is taken back,
// by a new socket on any node, the event that names the new member
// flushes the kept frames to it, in order, ahead of anything relayed
// after; they arrive after its resumed joined, which its node sends
// before it tells anyone of the resume.
//
// Frames the member relayed just before its node heard of the hold went
// to the held seat's node. That node sends them back (msgBack) on its link
// to the sender's node, after the hold's event, and the sender's node puts
// them first among the kept frames.

// startKeepLocked: local member m's partner in k has its seat held until
// the deadline. Frames for it are kept from now on (room.Keep, in s), and
// this node gives the seat up when the grace ends (unless another does
// first). The caller holds m.mu.
func (c *Cluster) startKeepLocked(m *member, k hub.Key, s *seat, until int64) {
	s.held = until
	if s.watch != nil {
		s.watch()
	}
	p := s.partner
	s.watch = c.clock.AfterFunc(c.untilDeadline(until), func() {
		c.run(func() { c.expire(k, p, until, false) })
	})
}

// endKeepLocked: the partner's hold is over; what was kept for it is
// dropped (the caller took it first if it is to be sent).
func (c *Cluster) endKeepLocked(s *seat) {
	if s.watch != nil {
		s.watch()
		s.watch = nil
	}
	c.opt.HoldCaps.Unkeep(s.keep.Drop())
	s.held = 0
}

// keepLocked keeps a frame for m's held partner in k: at the end (a relay)
// or after the frames sent back before (back). A frame that does not fit
// gives the hold up at once, as if its grace had run out; it and what m
// relays until the hold ends are dropped. What was kept stays: should the
// seat be taken back before the hold's end is written, its new member
// gets it, and m is told that what it relayed since was lost
// (followHoldLocked). The caller holds m.mu.
func (c *Cluster) keepLocked(k hub.Key, s *seat, frame hub.Loan, back bool) {
	if s.keep.Overflowed() {
		return
	}
	if !s.keep.Add(frame.Clone(), back, c.rules.KeepLimit(), c.opt.HoldCaps.Keep) {
		p, until := s.partner, s.held
		c.spawn(func() { c.expire(k, p, until, true) })
	}
}

// followHoldLocked updates local member m's view of its partner's seat in
// k after a transition: held until the deadline held (0: live), and
// resumed when the partner is a new socket that took the seat of old.
// It follows room.Keep's rules: frames kept for a seat taken back go to
// the new member, in order; a partner that changed, or whose seat is live
// again, makes them moot. The caller holds m.mu.
func (c *Cluster) followHoldLocked(m *member, k hub.Key, s *seat, old string, held int64, resumed bool) {
	switch {
	case s.partner != old && resumed:
		frames, n, lost := s.keep.Take()
		c.opt.HoldCaps.Unkeep(n)
		c.endKeepLocked(s)
		s.resumedFrom = old
		for _, f := range frames {
			c.sendFrameLocked(m, k, s.partner, hub.Lend(f))
		}
		if lost {
			// The seat was taken back before its overflowed hold's end
			// was written: what did not fit never reaches the new member.
			relayFailed(m, k)
		}
	case s.partner != old || held == 0:
		c.endKeepLocked(s) // another partner, or none: what was kept is moot
	}
	if s.partner != "" && held != 0 && held != s.held {
		c.startKeepLocked(m, k, s, held)
	}
}

// sendFrameLocked sends a kept frame from m to member to. A local one gets
// it at once (Send only queues; m.mu is held, so the partner's seat is not
// checked: its lock is not taken); one for another node waits in m's
// outbox until the caller releases m.mu with unlockFlush.
func (c *Cluster) sendFrameLocked(m *member, k hub.Key, to string, frame hub.Loan) {
	inc, num, ok := splitMember(to)
	if !ok {
		return
	}
	if inc == c.inc {
		if p := c.memberByNum(num); p != nil {
			frame.SendTo(p.conn)
		}
		return
	}
	m.outbox = append(m.outbox, outFrame{inc, num, k, frame.Clone()})
}

// outFrame is a frame from a local member to member num of incarnation
// inc, in room k, waiting in the member's outbox: its own copy.
type outFrame struct {
	inc   string
	num   uint64
	k     hub.Key
	frame []byte
}

// publishFrame sends a frame of m's for member num of incarnation inc on
// the link to that node (which copies it into what it holds).
func (c *Cluster) publishFrame(m *member, inc string, num uint64, k hub.Key, frame hub.Loan) {
	c.met.framesOut.Inc()
	c.out.Send(inc, msgFrame, sender{m, k}, 16+len(m.id)+len(k.App)+len(k.Stream)+frame.Len(), func(b []byte) []byte {
		return frameBody(b, num, m.id, k, frame)
	})
}

// unlockFlush releases m.mu and publishes what m's outbox holds, unless
// another goroutine is already doing so (it will take what was added).
func (c *Cluster) unlockFlush(m *member) {
	if len(m.outbox) == 0 || m.flushing {
		m.mu.Unlock()
		return
	}
	m.flushing = true
	for len(m.outbox) > 0 {
		batch := m.outbox
		m.outbox = nil
		m.mu.Unlock()
		for _, f := range batch {
			c.publishFrame(m, f.inc, f.num, f.k, hub.Lend(f.frame))
		}
		m.mu.Lock()
	}
	m.flushing = false
	m.mu.Unlock()
}

// sendBack returns a frame that reached this node for a seat whose socket
// is gone, and whose hold this node wrote, to its sender's node: it keeps
// it for the seat's return.
func (c *Cluster) sendBack(num uint64, from string, k hub.Key, frame hub.Loan) {
	held := memberID(c.inc, num)
	if !c.watching(k, held) {
		return
	}
	inc, snum, ok := splitMember(from)
	if !ok {
		return
	}
	if inc == c.inc {
		c.onBack(snum, held, k, frame)
		return
	}
	c.out.Send(inc, msgBack, sender{}, 16+len(held)+len(k.App)+len(k.Stream)+frame.Len(), func(b []byte) []byte {
		return frameBody(b, snum, held, k, frame)
	})
}

// onBack takes back a frame local member num relayed to member held,
// whose seat turned out to be held: it is kept, ahead of what was kept
// since; if the seat has been taken back meanwhile, it goes to the new
// member.
func (c *Cluster) onBack(num uint64, held string, k hub.Key, frame hub.Loan) {
	m := c.memberByNum(num)
	if m == nil {
		return
	}
	m.mu.Lock()
	defer c.unlockFlush(m)
	s := m.seats[k]
	switch {
	case s == nil || s.joining:
	case s.mesh != nil:
		c.onBackMesh(m, k, s, held, frame)
	case s.partner == held && s.held != 0:
		c.keepLocked(k, s, frame, true)
	case s.resumedFrom == held && s.partner != "":
		c.sendFrameLocked(m, k, s.partner, frame)
	}
}
