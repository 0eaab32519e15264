package ws

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Options are an Engine's settings.
type Options struct {
	MaxMessageBytes int           // largest message accepted (ErrTooBig beyond)
	SendQueueBytes  int           // payload bytes queued for a socket before it is dropped as a slow reader
	PingInterval    time.Duration // between server pings (jittered by ±10%)
	IdleTimeout     time.Duration // a socket silent this long is dropped
	WriteTimeout    time.Duration // bound on one write
	CloseGrace      time.Duration // time the peer has to answer our close frame (default 2 s)
	Linger          time.Duration // quiet time after which a reader parks its socket (default 100 ms)
	NoPoller        bool          // a reader goroutine per socket even where a poller exists
	MaxReaders      int           // reader goroutines at once; more sockets with bytes to read wait their turn (default 1024)
	MaxWriters      int           // writer goroutines at once; more sockets with frames to write wait their turn (default 1024)
	Logger          *slog.Logger
}

// Engine runs a set of Conns: the poller that parks idle sockets, one
// sweeper for every socket's pings and idle timeout (no timer per socket),
// and the buffers sockets borrow while data flows. Its zero value is not
// usable; see NewEngine.
//
// Locks: Engine.mu guards the table of Conns and is taken after a Conn's mu
// (Start holds it around add), never before: the sweeper and the poller
// collect what to do under Engine.mu and do it after releasing it.
type Engine struct {
	opts Options
	log  *slog.Logger
	poll *poller // nil without one (not Linux, or it failed to start)

	mu     sync.Mutex
	conns  []*Conn  // by slot; nil slots are free
	gens   []uint32 // each slot's generation, bumped when it is freed
	free   []uint32
	n      int
	closed bool
	stop   chan struct{}
	done   chan struct{}

	wg sync.WaitGroup // readers and writers

	readers, writers pool

	borrowed, maxBorrowed atomic.Int64 // read buffers out of the pools, now and at most

	small sync.Pool // read buffers of smallBufSize
	bufs  sync.Pool // read buffers of bufSize
	tiny  sync.Pool // send buffers of tinyOutSize
	outs  sync.Pool // send buffers of outSize (or grown past it)
}

// A socket's reader borrows a small buffer while it reads little (a join,
// a ping) and a big one once a read fills the small one or a frame needs
// the room; frames up to bufSize are parsed in place.
const (
	smallBufSize = 2 << 10
	bufSize      = 16 << 10
)

// Send buffers: a tiny one when the first frame queued is a control frame
// (a ping, a pong, a close: at most 127 bytes), so that pinging every idle
// socket at once costs little; outSize for data, whose bursts would
// otherwise grow a tiny one again and again. maxPooledOut is the largest put
// back in a pool; bigger ones (a burst of large SDPs) are left to the
// collector.
const (
	tinyOutSize  = 256
	outSize      = 4 << 10
	maxPooledOut = 64 << 10
)

// NewEngine starts an Engine. Close it after its Conns are done with.
func NewEngine(o Options) *Engine {
	if o.CloseGrace <= 0 {
		o.CloseGrace = 2 * time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxReaders <= 0 {
		o.MaxReaders = defaultPoolSize
	}
	if o.MaxWriters <= 0 {
		o.MaxWriters = defaultPoolSize
	}
	e := &Engine{opts: o, log: o.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	e.readers.max, e.writers.max = o.MaxReaders, o.MaxWriters
	e.small.New = func() any { b := make([]byte, smallBufSize); return &b }
	e.bufs.New = func() any { b := make([]byte, bufSize); return &b }
	e.tiny.New = func() any { b := make([]byte, 0, tinyOutSize); return &b }
	e.outs.New = func() any { b := make([]byte, 0, outSize); return &b }
	if !o.NoPoller {
		p, err := newPoller(e)
		if err != nil && !errors.Is(err, errNoPoller) {
			e.log.Warn("no poller: one reader goroutine per socket", "err", err)
		}
		e.poll = p
	}
	go e.sweep()
	return e
}

// defaultPoolSize bounds readers and writers: with a record-sized buffer
// each, a thousand readers hold about 40 MB at most.
const defaultPoolSize = 1024

// Polling reports whether idle sockets are parked in a poller.
func (e *Engine) Polling() bool { return e.poll != nil }

// Readers describes the reader pool: sockets waiting for a reader mean
// more arrived at once than the pool serves (a reconnect storm).
func (e *Engine) Readers() PoolStats { return e.readers.stats() }

// Writers describes the writer pool.
func (e *Engine) Writers() PoolStats { return e.writers.stats() }

// Busy reports whether sockets wait for a reader.
func (e *Engine) Busy() bool { return e.readers.waiting() > 0 }

// readLoop is a pooled reader: it serves c, then the sockets that waited
// for a reader, until none waits.
func (e *Engine) readLoop(c *Conn) {
	defer e.wg.Done()
	for c != nil {
		if !c.run() {
			return // its socket could not be parked: it gave its place away
		}
		c = e.readers.next()
	}
}

// Outside runs f, which may block for long (a join that probes a room's
// members, waits for admission or asks a remote authorizer), with its
// reader's place in the pool given to a socket waiting for one: a reader
// blocked there must not keep the sockets whose answers it waits for
// from being read. It must be called from c's Handler, on its reader;
// after f the reader waits for a place again. A reader outside the pool
// (a socket that cannot be parked) just runs f.
func (c *Conn) Outside(f func()) {
	e := c.eng
	c.mu.Lock()
	pooled := c.pooled
	c.mu.Unlock()
	if !pooled {
		f()
		return
	}
	e.leavePool()
	f()
	e.readers.rejoin()
}

// leavePool gives a reader's place to the oldest socket waiting for one.
func (e *Engine) leavePool() {
	if next := e.readers.leave(); next != nil {
		e.wg.Add(1)
		go e.readLoop(next)
	}
}

// writeLoop is a pooled writer, as readLoop is a reader.
func (e *Engine) writeLoop(c *Conn) {
	defer e.wg.Done()
	for c != nil {
		c.writeLoop()
		c = e.writers.next()
	}
}

// getBuf borrows a read buffer of at least n bytes (a small one when n
// fits it).
func (e *Engine) getBuf(n int) *[]byte {
	if b := e.borrowed.Add(1); b > e.maxBorrowed.Load() {
		e.maxBorrowed.Store(b) // a statistic: a lost race only loses a peak
	}
	if n <= smallBufSize {
		return e.small.Get().(*[]byte)
	}
	return e.bufs.Get().(*[]byte)
}

func (e *Engine) putBuf(b *[]byte) {
	if b != nil {
		e.borrowed.Add(-1)
	}
	switch {
	case b == nil:
	case len(*b) == smallBufSize:
		e.small.Put(b)
	default:
		e.bufs.Put(b)
	}
}

// getOut borrows a send buffer whose first frame has opcode op.
func (e *Engine) getOut(op Opcode) *[]byte {
	if op.IsControl() {
		return e.tiny.Get().(*[]byte)
	}
	return e.outs.Get().(*[]byte)
}

// putOut gives a send buffer back to the pool of its size.
func (e *Engine) putOut(b *[]byte) {
	if b == nil {
		return
	}
	*b = (*b)[:0]
	switch c := cap(*b); {
	case c < outSize:
		e.tiny.Put(b)
	case c <= maxPooledOut:
		e.outs.Put(b)
	}
}

// pollFD returns the descriptor to park nc with, or -1 when it cannot be
// parked: no poller, or not a plain TCP socket (a TLS connection may hold
// decrypted bytes that no readiness event would announce).
func (e *Engine) pollFD(nc net.Conn) int32 {
	if e.poll == nil {
		return -1
	}
	return socketFD(nc)
}

// add enters c in the table; false once the Engine is closed. The caller
// holds c.mu.
func (e *Engine) add(c *Conn, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	var id uint32
	if k := len(e.free); k > 0 {
		id, e.free = e.free[k-1], e.free[:k-1]
	} else {
		id = uint32(len(e.conns))
		e.conns = append(e.conns, nil)
		e.gens = append(e.gens, 1)
	}
	e.conns[id] = c
	c.id, c.gen = id, e.gens[id]
	c.nextPing = now.Add(jitter(e.opts.PingInterval)).UnixNano()
	e.n++
	return true
}

// remove frees c's slot; its generation changes, so an event still
// carrying the old one is recognised as stale.
func (e *Engine) remove(c *Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(c.id) < len(e.conns) && e.conns[c.id] == c {
		e.conns[c.id] = nil
		e.gens[c.id]++
		e.free = append(e.free, c.id)
		e.n--
	}
}

// lookup returns the Conn of a poll event, or nil when the event is stale.
func (e *Engine) lookup(id, gen uint32) *Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(id) < len(e.conns) && e.gens[id] == gen {
		return e.conns[id]
	}
	return nil
}

// Len is the number of Conns running.
func (e *Engine) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// sweepEvery is how often the sweeper looks at every socket.
func (e *Engine) sweepEvery() time.Duration {
	d := min(e.opts.PingInterval, e.opts.IdleTimeout) / 4
	return min(max(d, 10*time.Millisecond), time.Second)
}

// sweep pings sockets when their ping is due and drops those silent for the
// idle timeout.
func (e *Engine) sweep() {
	defer close(e.done)
	t := time.NewTicker(e.sweepEvery())
	defer t.Stop()
	var pings, idle []*Conn
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			pings, idle = pings[:0], idle[:0]
			n := now.UnixNano()
			silent := n - int64(e.opts.IdleTimeout)
			e.mu.Lock()
			for _, c := range e.conns {
				switch {
				case c == nil:
				case c.lastHeard.Load() < silent:
					idle = append(idle, c)
				case n >= c.nextPing:
					c.nextPing = n + int64(jitter(e.opts.PingInterval))
					pings = append(pings, c)
				}
			}
			e.mu.Unlock()
			for _, c := range idle {
				c.Drop(CauseIdleTimeout)
			}
			for i, c := range pings {
				c.ping()
				if i%pingBatch == pingBatch-1 {
					// Let the writers just started send their pings and
					// give their buffers back before more start: a sweep
					// may ping every socket at once.
					runtime.Gosched()
				}
			}
			clear(pings)
			clear(idle)
		}
	}
}

// pingBatch is how many pings the sweeper queues before it yields.
const pingBatch = 64

// jitter spreads d by ±10% so pings of sockets opened together spread out.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// Close drops every Conn still running (CauseGoingAway), waits for their
// readers and writers, and stops the poller and the sweeper. New Conns are
// refused from then on.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	close(e.stop) // no more pings
	<-e.done
	e.mu.Lock()
	var left []*Conn
	for _, c := range e.conns {
		if c != nil {
			left = append(left, c)
		}
	}
	e.mu.Unlock()
	for _, c := range left {
		c.Drop(CauseGoingAway)
	}
	e.wg.Wait()
	if e.poll != nil {
		e.poll.close()
	}
}
