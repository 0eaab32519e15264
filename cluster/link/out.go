// Package link is the cluster's reliable, ordered link from one node's
// incarnation to another's, over a network (Net) that only publishes bytes
// and may lose them: core NATS delivers at most once, and a message
// published while the other node is cut off (or before it has subscribed
// again after an outage) is gone.
//
// So every message carries a sequence number, the receiver (In)
// acknowledges what it got in order, and the sender (Out) holds what is
// not acknowledged yet and sends it again when the acknowledgements stop
// advancing, or at once when the receiver reports a gap. The receiver
// drops repeats and anything past a gap, so messages are delivered once
// and in order.
//
// What is held is bounded, per destination, by a number of bytes and a
// time. Past either bound the link starts afresh (a new epoch): the held
// messages are dropped and their owner is told (Options.Dropped). A
// destination that is gone is forgotten with what was held for it; if it
// was declared dead and comes back, the owner is told then (Revived).
package link

import (
	"sync"
	"sync/atomic"
	"time"
)

// Timing of the links.
const (
	ResendAfter = 300 * time.Millisecond // no acknowledgement progress for this long: send again
	AckEvery    = 128                    // acknowledge every this many messages, and what is left every TickEvery
	AckAfter    = 20 * time.Millisecond  // at most one gap report (and resend) per link this often
	TickEvery   = 20 * time.Millisecond  // how often the owner calls Tick and Flush
)

// Net is what links publish through. Publish sends a numbered message (or
// a sync) to incarnation to, PublishAck an acknowledgement; neither may
// keep b, and either may lose it. Up reports whether publishing is worth
// trying. A link never calls Net under its own locks.
type Net interface {
	Publish(to string, b []byte)
	PublishAck(to string, b []byte)
	Up() bool
}

// Options configure an Out. T is what the owner attaches to a message to
// know whom to tell if it is dropped (its zero value: nobody).
type Options[T comparable] struct {
	Self   string        // this incarnation
	Buffer int           // bytes held per destination
	Hold   time.Duration // how long a message is held
	// Gone reports whether incarnation to is gone (declared dead,
	// restarted or departed), and whether it died (it may come back:
	// what was held for it waits in limbo, see Revived).
	Gone func(to string) (gone, died bool)
	// Dropped is told, under no lock, the tags of the messages a link gave
	// up, and how many messages it gave up in all.
	Dropped func(to string, tags []T, msgs int)
	// Resent counts messages sent again (a leaf: it may not block).
	Resent func(n int)
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Out is the sending side of this incarnation's links.
//
// Lock order: Out.mu and a link's mu are never held together; Net is
// called under neither (a link's messages are published, in order, by
// whichever caller finds its queue idle: see unlockFlush).
type Out[T comparable] struct {
	net    Net
	opt    Options[T]
	mu     sync.Mutex
	links  map[string]*outLink[T]
	limbo  map[string][]held[T] // what links to incarnations declared dead held (see Forget)
	epochs atomic.Uint64        // the last epoch given to a link: epochs only grow, even for a link made anew
	// clock is the time in nanoseconds, set by Tick: precise enough for
	// the bounds, and cheaper than reading the clock per message.
	clock atomic.Int64
	bufs  sync.Pool // *[]byte of smallBuf capacity: held messages, reused once acknowledged
}

// smallBuf is the capacity of pooled message buffers: candidates and
// most notifications fit; larger messages (SDP) are allocated.
const smallBuf = 1024

// outLink is the link to one incarnation.
//
// Lock order: see Out; mu is a leaf, and nothing is published under it.
type outLink[T comparable] struct {
	to string
	mu sync.Mutex

	epoch    uint64
	next     uint64    // sequence number of the next message
	held     []held[T] // sent and not acknowledged, in order
	bytes    int
	progress time.Time // last acknowledgement that advanced (or the first hold)
	resent   time.Time

	queue    [][]byte // to publish, in order; empty unless flushing
	flushing bool     // a caller is publishing the queue
	freed    [][]byte // acknowledged during a flush: pooled once it is over
}

type held[T comparable] struct {
	seq  uint64
	data []byte
	at   time.Time
	tag  T
}

// NewOut returns the sending side of links from opt.Self.
func NewOut[T comparable](net Net, opt Options[T]) *Out[T] {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	o := &Out[T]{net: net, opt: opt, links: map[string]*outLink[T]{}, limbo: map[string][]held[T]{}}
	o.clock.Store(opt.Now().UnixNano())
	return o
}

func (o *Out[T]) buf(size int) []byte {
	if size > smallBuf {
		return make([]byte, 0, size)
	}
	if p, ok := o.bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, smallBuf)
}

func (o *Out[T]) release(b []byte) {
	if cap(b) == smallBuf {
		o.bufs.Put(&b)
	}
}

func (o *Out[T]) get(to string) *outLink[T] {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.links[to]
	if l == nil {
		l = &outLink[T]{to: to, epoch: o.epochs.Add(1), next: 1}
		o.links[to] = l
	}
	return l
}

// Send numbers one message of type typ for incarnation to, holds it, and
// publishes it unless the net is down (then it goes on a resend). body
// appends the message's body (about size bytes) to its header; tag says
// whom to tell if it is dropped.
func (o *Out[T]) Send(to string, typ byte, tag T, size int, body func([]byte) []byte) {
	l := o.get(to)
	now := time.Unix(0, o.clock.Load())
	l.mu.Lock()
	var dropped []held[T]
	if len(l.held) > 0 && (l.bytes+size > o.opt.Buffer || now.Sub(l.held[0].at) > o.opt.Hold) {
		dropped = o.restartLocked(l)
	}
	seq := l.next
	l.next++
	b := Header(o.buf(size+len(o.opt.Self)+24), typ, o.opt.Self, l.epoch, seq)
	b = body(b)
	if len(l.held) == 0 {
		l.progress = now
	}
	l.held = append(l.held, held[T]{seq: seq, data: b, at: now, tag: tag})
	l.bytes += len(b)
	if o.net.Up() {
		l.queue = append(l.queue, b)
	}
	o.unlockFlush(l)
	o.report(to, dropped)
}

// unlockFlush releases l.mu and publishes l's queue, in order, unless
// another caller is doing so already (it takes what was added). So no
// lock is held while the net works, and the messages of a link still go
// out in the order they were numbered.
func (o *Out[T]) unlockFlush(l *outLink[T]) {
	if l.flushing || len(l.queue) == 0 {
		l.mu.Unlock()
		return
	}
	l.flushing = true
	for len(l.queue) > 0 {
		batch := l.queue
		l.queue = nil
		l.mu.Unlock()
		for _, b := range batch {
			o.net.Publish(l.to, b)
		}
		l.mu.Lock()
	}
	l.flushing = false
	freed := l.freed
	l.freed = nil
	l.mu.Unlock()
	for _, b := range freed {
		o.release(b)
	}
}

// restartLocked gives up on what l holds and starts a new epoch.
func (o *Out[T]) restartLocked(l *outLink[T]) []held[T] {
	dropped := l.held
	l.held, l.bytes, l.next = nil, 0, 1
	l.epoch = o.epochs.Add(1)
	return dropped
}

// report tells the owner of dropped messages.
func (o *Out[T]) report(to string, msgs []held[T]) {
	if len(msgs) == 0 || o.opt.Dropped == nil {
		return
	}
	var zero T
	var tags []T
	for _, h := range msgs {
		if h.tag != zero {
			tags = append(tags, h.tag)
		}
	}
	o.opt.Dropped(to, tags, len(msgs))
}

// Ack applies an acknowledgement (b, as the receiver's In sent it).
func (o *Out[T]) Ack(b []byte) error {
	from, epoch, seq, gap, err := DecodeAck(b)
	if err != nil {
		return err
	}
	o.mu.Lock()
	l := o.links[from]
	o.mu.Unlock()
	if l == nil {
		return nil
	}
	now := o.opt.Now()
	l.mu.Lock()
	if epoch != l.epoch {
		l.mu.Unlock()
		return nil
	}
	i := 0
	for ; i < len(l.held) && l.held[i].seq <= seq; i++ {
		l.bytes -= len(l.held[i].data)
		if l.flushing {
			l.freed = append(l.freed, l.held[i].data) // it may be in the batch being published
		} else {
			o.release(l.held[i].data) // the net copied it when it was published
		}
	}
	if i > 0 {
		clear(l.held[:i]) // let the messages go
		l.held = l.held[i:]
		l.progress = now
	}
	if gap && now.Sub(l.resent) >= AckAfter {
		// A receiver that lost its state (it had declared this node dead)
		// asks for what this side no longer holds, since an earlier state
		// of it acknowledged that: tell it where to start.
		first := l.next
		if len(l.held) > 0 {
			first = l.held[0].seq
		}
		if seq+1 < first && o.net.Up() {
			l.queue = append(l.queue, Header(nil, TypeSync, o.opt.Self, l.epoch, first))
		}
		if len(l.held) > 0 {
			o.resendLocked(l, now)
		}
	}
	o.unlockFlush(l)
	return nil
}

func (o *Out[T]) resendLocked(l *outLink[T], now time.Time) {
	if !o.net.Up() {
		return
	}
	l.resent = now
	if o.opt.Resent != nil {
		o.opt.Resent(len(l.held))
	}
	for _, h := range l.held {
		l.queue = append(l.queue, h.data)
	}
}

// Tick resends what stalled, applies the bounds, and forgets links to
// incarnations that are gone (not to ones merely silent: this node may be
// the one cut off, and then the link must keep what it holds). The owner
// calls it every TickEvery.
func (o *Out[T]) Tick(now time.Time) {
	o.clock.Store(now.UnixNano())
	o.mu.Lock()
	for inc, h := range o.limbo {
		if len(h) == 0 || now.Sub(h[len(h)-1].at) > o.opt.Hold {
			delete(o.limbo, inc) // it did not come back
		}
	}
	links := make([]*outLink[T], 0, len(o.links))
	for _, l := range o.links {
		links = append(links, l)
	}
	o.mu.Unlock()
	for _, l := range links {
		if o.opt.Gone != nil {
			if gone, died := o.opt.Gone(l.to); gone {
				o.Forget(l.to, died)
				continue
			}
		}
		l.mu.Lock()
		var dropped []held[T]
		switch {
		case len(l.held) == 0:
		case now.Sub(l.held[0].at) > o.opt.Hold:
			dropped = o.restartLocked(l)
		case now.Sub(l.progress) >= ResendAfter && now.Sub(l.resent) >= ResendAfter:
			o.resendLocked(l, now)
		}
		o.unlockFlush(l)
		o.report(l.to, dropped)
	}
}

// Forget drops the link to an incarnation that is gone, with what it
// held. A death declared after silence may prove wrong (a partition that
// healed just then): so when died, what the link held waits in limbo, and
// if the incarnation is heard again the owner is told (Revived). No
// message goes without a word.
func (o *Out[T]) Forget(to string, died bool) {
	o.mu.Lock()
	l := o.links[to]
	delete(o.links, to)
	o.mu.Unlock()
	if l == nil {
		return
	}
	l.mu.Lock()
	h := l.held
	l.held, l.bytes = nil, 0
	l.mu.Unlock()
	if died && len(h) > 0 {
		o.mu.Lock()
		o.limbo[to] = append(o.limbo[to], h...)
		o.mu.Unlock()
	}
}

// Revived reports to Dropped the messages that a link to inc dropped when
// inc was declared dead, and whose tag lost still says were lost (their
// sender is still paired with a member of inc).
func (o *Out[T]) Revived(inc string, lost func(T) bool) {
	o.mu.Lock()
	h := o.limbo[inc]
	delete(o.limbo, inc)
	o.mu.Unlock()
	var zero T
	var out []held[T]
	for _, m := range h {
		if m.tag != zero && lost(m.tag) {
			out = append(out, m)
		}
	}
	o.report(inc, out)
}

// Held is the number of messages waiting for an acknowledgement.
func (o *Out[T]) Held() int {
	o.mu.Lock()
	links := make([]*outLink[T], 0, len(o.links))
	for _, l := range o.links {
		links = append(links, l)
	}
	o.mu.Unlock()
	n := 0
	for _, l := range links {
		l.mu.Lock()
		n += len(l.held)
		l.mu.Unlock()
	}
	return n
}
