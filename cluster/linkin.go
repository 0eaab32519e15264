package cluster

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// inLinks is the receiving side of the links from other incarnations to
// this one (see link.go): what arrived in order, and what to acknowledge.
type inLinks struct {
	c     *Cluster
	mu    sync.Mutex
	links map[string]*inLink
}

type inLink struct {
	epoch, next uint64 // the epoch, and the next sequence number expected in it
	unacked     int
	gapAt       time.Time // last gap reported
}

func newInLinks(c *Cluster) *inLinks { return &inLinks{c: c, links: map[string]*inLink{}} }

// accept reports whether a message from incarnation from is the next in
// order and must be delivered; a repeat or a message past a gap is not.
// from points into the message: it is copied only for a new link.
func (in *inLinks) accept(from []byte, epoch, seq uint64) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	l := in.links[string(from)]
	if l == nil || epoch > l.epoch {
		l = &inLink{epoch: epoch, next: 1}
		in.links[string(from)] = l
	}
	switch {
	case epoch < l.epoch: // from before the sender gave up: stale
		return false
	case seq < l.next: // a repeat: acknowledge again, or the sender keeps resending
		l.unacked++
		return false
	case seq > l.next: // a message was lost: ask for it at once
		if now := time.Now(); now.Sub(l.gapAt) >= ackAfter {
			l.gapAt = now
			in.sendAck(string(from), l, true)
		}
		return false
	}
	l.next++
	if l.unacked++; l.unacked >= ackEvery {
		in.sendAck(string(from), l, false)
	}
	return true
}

// sync moves the link from incarnation from past what the sender says
// was acknowledged already (see outLinks.ack).
func (in *inLinks) sync(from []byte, epoch, next uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	l := in.links[string(from)]
	switch {
	case l == nil || epoch > l.epoch:
		in.links[string(from)] = &inLink{epoch: epoch, next: next}
	case epoch == l.epoch && next > l.next:
		l.next = next
	}
}

func (in *inLinks) sendAck(from string, l *inLink, gap bool) {
	l.unacked = 0
	if in.c.nc.IsConnected() {
		in.c.nc.Publish(ackSubject(from), ackMsg(in.c.inc, l.epoch, l.next-1, gap))
	}
}

// flush acknowledges what is left unacknowledged and forgets links from
// incarnations that are gone.
func (in *inLinks) flush(now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for from, l := range in.links {
		if in.c.live.gone(from) {
			delete(in.links, from)
			continue
		}
		if l.unacked > 0 {
			in.sendAck(from, l, false)
		}
	}
}

// onAck handles an acknowledgement of frames this node sent.
func (c *Cluster) onAck(m *nats.Msg) {
	from, epoch, seq, gap, err := decodeAck(m.Data)
	if err != nil {
		return
	}
	c.out.ack(from, epoch, seq, gap)
}

// linkLoop sends leftover acknowledgements, resends what stalled and
// applies the bounds of what is held.
func (c *Cluster) linkLoop() {
	t := time.NewTicker(linkTick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.in.flush(now)
			c.out.tick(now)
		}
	}
}
