package cluster

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
)

// Frames and room transitions for another node travel on a link from this
// incarnation to that one. Core NATS delivers at most once: a message
// published while the other node is cut off from NATS (or before it has
// subscribed again after an outage) is gone. So every message carries a
// sequence number, the receiver acknowledges what it got in order, and the
// sender holds what is not acknowledged yet and sends it again when the
// acknowledgements stop advancing, or at once when the receiver reports a
// gap. The receiver drops repeats and anything past a gap, so messages are
// delivered once and in order.
//
// What is held is bounded, per destination, by RelayBuffer bytes and
// RelayHold time. Past either bound the link starts afresh (a new epoch):
// the held messages are dropped and the sender of every dropped frame gets
// relayFailed for its room. A destination that dies or says goodbye is
// forgotten with what was held for it: its members' partners get stop,
// and the senders of the frames it held relayFailed.

const (
	resendAfter = 300 * time.Millisecond // no acknowledgement progress for this long: send again
	ackEvery    = 128                    // acknowledge every this many messages, and what is left every linkTick
	ackAfter    = 20 * time.Millisecond  // at most one gap report (and resend) per link this often
	linkTick    = 20 * time.Millisecond  // acknowledgements left over, resends and bounds
)

// outLinks are this incarnation's links to others.
type outLinks struct {
	c      *Cluster
	mu     sync.Mutex
	links  map[string]*outLink
	limbo  map[string][]heldMsg // what links to incarnations declared dead held (see forget)
	epochs uint64               // the last epoch given to a link: epochs only grow, even for a link made anew
	// clock is the time in nanoseconds, set every linkTick: precise
	// enough for the bounds, and cheaper than reading the clock per frame.
	clock atomic.Int64
	bufs  sync.Pool // *[]byte of smallBuf capacity: held frames, reused once acknowledged
}

// smallBuf is the capacity of pooled message buffers: candidates and
// most notifications fit; larger messages (SDP) are allocated.
const smallBuf = 1024

type outLink struct {
	to      string
	subject string
	mu      sync.Mutex

	epoch    uint64
	next     uint64    // sequence number of the next message
	held     []heldMsg // sent and not acknowledged, in order
	bytes    int
	progress time.Time // last acknowledgement that advanced (or the first hold)
	resent   time.Time
}

type heldMsg struct {
	seq  uint64
	data []byte
	at   time.Time
	from *member // the sender of a relayed frame, told if it is dropped; nil for a transition
	k    hub.Key
}

func newOutLinks(c *Cluster) *outLinks {
	o := &outLinks{c: c, links: map[string]*outLink{}, limbo: map[string][]heldMsg{}}
	o.clock.Store(time.Now().UnixNano())
	return o
}

func (o *outLinks) buf(size int) []byte {
	if size > smallBuf {
		return make([]byte, 0, size)
	}
	if p, ok := o.bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, smallBuf)
}

func (o *outLinks) release(b []byte) {
	if cap(b) == smallBuf {
		o.bufs.Put(&b)
	}
}

func (o *outLinks) get(to string) *outLink {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.links[to]
	if l == nil {
		o.epochs++
		l = &outLink{to: to, subject: dataSubject(to), epoch: o.epochs, next: 1}
		o.links[to] = l
	}
	return l
}

// send numbers one message for incarnation to, holds it, and publishes it
// unless this node is cut off (then it goes when NATS is back). body
// appends the message's body to its header.
func (o *outLinks) send(to string, typ byte, from *member, k hub.Key, size int, body func([]byte) []byte) {
	c := o.c
	l := o.get(to)
	now := time.Unix(0, o.clock.Load())
	l.mu.Lock()
	var dropped []heldMsg
	if len(l.held) > 0 && (l.bytes+size > c.opt.RelayBuffer || now.Sub(l.held[0].at) > c.opt.RelayHold) {
		dropped = o.restartLocked(l)
	}
	seq := l.next
	l.next++
	b := linkHeader(o.buf(size+len(c.inc)+24), typ, c.inc, l.epoch, seq)
	b = body(b)
	if len(l.held) == 0 {
		l.progress = now
	}
	l.held = append(l.held, heldMsg{seq: seq, data: b, at: now, from: from, k: k})
	l.bytes += len(b)
	if c.dc.IsConnected() {
		c.dc.Publish(l.subject, b)
	}
	l.mu.Unlock()
	o.dropped(to, dropped)
}

// restartLocked gives up on what l holds and starts a new epoch.
func (o *outLinks) restartLocked(l *outLink) []heldMsg {
	dropped := l.held
	l.held, l.bytes, l.next = nil, 0, 1
	o.mu.Lock()
	o.epochs++
	l.epoch = o.epochs
	o.mu.Unlock()
	return dropped
}

// dropped tells the senders of dropped frames, once per socket and room.
func (o *outLinks) dropped(to string, msgs []heldMsg) {
	if len(msgs) == 0 {
		return
	}
	type seat struct {
		m *member
		k hub.Key
	}
	told := map[seat]bool{}
	frames := 0
	for _, h := range msgs {
		if h.from == nil {
			continue
		}
		frames++
		if s := (seat{h.from, h.k}); !told[s] {
			told[s] = true
			h.from.conn.Send(protocol.ErrorMsg(nil, protocol.ErrRelayFailed, h.k.Stream))
		}
	}
	o.c.met.relayDropped.Add(float64(frames))
	o.c.log.Warn("frames held for a node were dropped (past the bounds, or the node is gone); senders told relayFailed",
		"to", to, "frames", frames, "messages", len(msgs), "senders", len(told))
}

// ack applies an acknowledgement from incarnation from.
func (o *outLinks) ack(from string, epoch, seq uint64, gap bool) {
	o.mu.Lock()
	l := o.links[from]
	o.mu.Unlock()
	if l == nil {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if epoch != l.epoch {
		return
	}
	i := 0
	for ; i < len(l.held) && l.held[i].seq <= seq; i++ {
		l.bytes -= len(l.held[i].data)
		o.release(l.held[i].data) // NATS copied it when it was published
	}
	if i > 0 {
		clear(l.held[:i]) // let the frames go
		l.held = l.held[i:]
		l.progress = now
	}
	if gap && now.Sub(l.resent) >= ackAfter {
		// A receiver that lost its state (it had declared this node dead)
		// asks for what this side no longer holds, since an earlier state
		// of it acknowledged that: tell it where to start.
		first := l.next
		if len(l.held) > 0 {
			first = l.held[0].seq
		}
		if seq+1 < first && o.c.connected() {
			o.c.dc.Publish(l.subject, linkHeader(nil, msgSync, o.c.inc, l.epoch, first))
		}
		if len(l.held) > 0 {
			o.resendLocked(l, now)
		}
	}
}

func (o *outLinks) resendLocked(l *outLink, now time.Time) {
	if !o.c.connected() {
		return
	}
	l.resent = now
	o.c.met.resent.Add(float64(len(l.held)))
	for _, h := range l.held {
		o.c.dc.Publish(l.subject, h.data)
	}
}

// tick resends what stalled, applies the bounds, and forgets links to
// incarnations that died, restarted or left (not to ones merely silent:
// this node may be the one cut off, and then the link must keep what it
// holds).
func (o *outLinks) tick(now time.Time) {
	o.clock.Store(now.UnixNano())
	o.mu.Lock()
	for inc, held := range o.limbo {
		if len(held) == 0 || now.Sub(held[len(held)-1].at) > o.c.opt.RelayHold {
			delete(o.limbo, inc) // it did not come back
		}
	}
	o.mu.Unlock()
	o.mu.Lock()
	links := make([]*outLink, 0, len(o.links))
	for _, l := range o.links {
		links = append(links, l)
	}
	o.mu.Unlock()
	for _, l := range links {
		if o.c.live.gone(l.to) {
			o.forget(l.to, !o.c.live.final(l.to))
			continue
		}
		l.mu.Lock()
		var dropped []heldMsg
		switch {
		case len(l.held) == 0:
		case now.Sub(l.held[0].at) > o.c.opt.RelayHold:
			dropped = o.restartLocked(l)
		case now.Sub(l.progress) >= resendAfter && now.Sub(l.resent) >= resendAfter:
			o.resendLocked(l, now)
		}
		l.mu.Unlock()
		o.dropped(l.to, dropped)
	}
}

// forget drops the link to an incarnation that died or left, with what
// it held: the partners of its members are removed from their rooms and
// get stop. A death declared after silence may prove wrong (a partition
// that healed just then) and a partner stay in its room: so what the link
// held waits in limbo, and if the incarnation is heard again (revived)
// the senders still paired with one of its members get relayFailed. No
// frame goes without a word.
func (o *outLinks) forget(to string, died bool) {
	o.mu.Lock()
	l := o.links[to]
	delete(o.links, to)
	o.mu.Unlock()
	if l == nil {
		return
	}
	l.mu.Lock()
	held := l.held
	l.held, l.bytes = nil, 0
	l.mu.Unlock()
	if died && len(held) > 0 {
		o.mu.Lock()
		o.limbo[to] = append(o.limbo[to], held...)
		o.mu.Unlock()
	}
}

// revived tells the senders of frames that a link to inc dropped when
// inc was declared dead, and that are still paired with its members.
func (o *outLinks) revived(inc string) {
	o.mu.Lock()
	held := o.limbo[inc]
	delete(o.limbo, inc)
	o.mu.Unlock()
	var lost []heldMsg
	for _, h := range held {
		if h.from != nil && nodeOf(h.from.partnerOf(h.k)) == inc {
			lost = append(lost, h)
		}
	}
	o.dropped(inc, lost)
}

// held is the number of messages waiting for an acknowledgement.
func (o *outLinks) held() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, l := range o.links {
		l.mu.Lock()
		n += len(l.held)
		l.mu.Unlock()
	}
	return n
}
