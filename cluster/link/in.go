package link

import (
	"sync"
	"time"
)

// In is the receiving side of the links from other incarnations to this
// one: what arrived in order, and what to acknowledge.
//
// Lock order: mu is a leaf, and Net is never called under it.
type In struct {
	self  string
	net   Net
	mu    sync.Mutex
	links map[string]*inLink
}

type inLink struct {
	epoch, next uint64 // the epoch, and the next sequence number expected in it
	unacked     int
	gapAt       time.Time // last gap reported
}

// ack is an acknowledgement to publish once In's lock is released.
type ack struct {
	to string
	b  []byte
}

// NewIn returns the receiving side of links to incarnation self.
func NewIn(self string, net Net) *In { return &In{self: self, net: net, links: map[string]*inLink{}} }

// Receive handles a message from the net: it returns its type and body
// (pointing into b) and whether it is the next in order and must be
// delivered; a repeat, a message past a gap and a sync are not.
func (in *In) Receive(b []byte) (typ byte, body []byte, deliver bool, err error) {
	typ, from, epoch, seq, body, err := Decode(b)
	if err != nil {
		return typ, nil, false, err
	}
	if typ == TypeSync {
		in.sync(from, epoch, seq)
		return typ, nil, false, nil
	}
	ok, a := in.accept(from, epoch, seq)
	if a.b != nil && in.net.Up() {
		in.net.PublishAck(a.to, a.b)
	}
	return typ, body, ok, nil
}

// accept reports whether a message from incarnation from is the next in
// order, and an acknowledgement to send if one is due. from points into
// the message: it is copied only for a new link.
func (in *In) accept(from []byte, epoch, seq uint64) (bool, ack) {
	in.mu.Lock()
	defer in.mu.Unlock()
	l := in.links[string(from)]
	if l == nil || epoch > l.epoch {
		l = &inLink{epoch: epoch, next: 1}
		in.links[string(from)] = l
	}
	switch {
	case epoch < l.epoch: // from before the sender gave up: stale
		return false, ack{}
	case seq < l.next: // a repeat: acknowledge again, or the sender keeps resending
		l.unacked++
		return false, ack{}
	case seq > l.next: // a message was lost: ask for it at once
		if now := time.Now(); now.Sub(l.gapAt) >= AckAfter {
			l.gapAt = now
			return false, in.ackLocked(string(from), l, true)
		}
		return false, ack{}
	}
	l.next++
	if l.unacked++; l.unacked >= AckEvery {
		return true, in.ackLocked(string(from), l, false)
	}
	return true, ack{}
}

// sync moves the link from incarnation from past what the sender says
// was acknowledged already (see Out.Ack).
func (in *In) sync(from []byte, epoch, next uint64) {
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

func (in *In) ackLocked(from string, l *inLink, gap bool) ack {
	l.unacked = 0
	return ack{from, ackMsg(in.self, l.epoch, l.next-1, gap)}
}

// Flush acknowledges what is left unacknowledged and forgets links from
// incarnations that are gone. The owner calls it every TickEvery.
func (in *In) Flush(gone func(inc string) bool) {
	var acks []ack
	in.mu.Lock()
	for from, l := range in.links {
		if gone != nil && gone(from) {
			delete(in.links, from)
			continue
		}
		if l.unacked > 0 {
			acks = append(acks, in.ackLocked(from, l, false))
		}
	}
	in.mu.Unlock()
	if !in.net.Up() {
		return
	}
	for _, a := range acks {
		in.net.PublishAck(a.to, a.b)
	}
}
