package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/duet-rtc/duet/hub"
)

// The node's NATS handlers and what it sends other nodes about members:
// frames and transitions on its data subject, probes and kills on its
// control subject.

// onData handles this node's data subject. NATS calls it on one goroutine,
// in the order messages arrived, so frames and transitions from one node
// keep their order; the link drops repeats and what follows a gap until
// the sender fills it.
func (c *Cluster) onData(msg busMsg) {
	if len(msg.Data) == 0 {
		return
	}
	typ, body, deliver, err := c.in.Receive(msg.Data)
	if err != nil {
		c.log.Warn("malformed cluster message", "err", err)
		return
	}
	if !deliver {
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
		c.deliverFrame(to, from, k, hub.Lend(frame)) // msg.Data is NATS's: lent for this call
	case msgEvent:
		to, k, ev, err := decodeEvent(body)
		if err != nil {
			c.log.Warn("malformed cluster event", "err", err)
			return
		}
		c.met.eventsIn.Inc()
		if ev.flags&evGone != 0 {
			c.onGone(k, ev.partner)
			return
		}
		if m := c.memberByNum(to); m != nil {
			c.applyEvent(m, k, ev)
		}
	case msgMeshEvent:
		to, k, ev, err := decodeMeshEvent(body)
		if err != nil {
			c.log.Warn("malformed cluster event", "err", err)
			return
		}
		c.met.eventsIn.Inc()
		if m := c.memberByNum(to); m != nil {
			c.applyEvent(m, k, ev)
		}
	case msgBack:
		to, held, k, frame, err := decodeFrame(body)
		if err != nil {
			c.log.Warn("malformed cluster frame", "err", err)
			return
		}
		c.onBack(to, held, k, hub.Lend(frame))
	}
}

// onCtl answers probes and kills for local members.
func (c *Cluster) onCtl(msg busMsg) {
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
	if !c.live.Alive(inc, time.Now()) {
		return // a dead node's member: nobody to tell
	}
	c.met.eventsOut.Inc()
	if ev.mesh {
		c.out.Send(inc, msgMeshEvent, sender{}, meshEventSize(k, ev), func(b []byte) []byte {
			return meshEventBody(b, num, k, ev)
		})
		return
	}
	c.out.Send(inc, msgEvent, sender{}, 40+len(k.App)+len(k.Stream)+len(ev.partner), func(b []byte) []byte {
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
	c.ctl.Publish(ctlSubject(inc), ctlMsg(msgKill, num, reason))
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
	if !c.live.Alive(inc, time.Now()) {
		return false
	}
	// The member's node waits ProbeTimeout for the pong; leave its answer
	// time to come back.
	ctx, cancel := context.WithTimeout(ctx, c.opt.ProbeTimeout+c.opt.ProbeTimeout/4+100*time.Millisecond)
	defer cancel()
	c.met.probesOut.Inc()
	reply, err := c.ctl.Request(ctx, ctlSubject(inc), ctlMsg(msgProbe, num, ""))
	switch {
	case err == nil:
		return len(reply) == 1 && reply[0] == 1
	case errorsIsAny(err, errNoResponders, context.DeadlineExceeded):
		return false
	}
	return true
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
