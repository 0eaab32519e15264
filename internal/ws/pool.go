package ws

import "sync"

// pool bounds the goroutines that serve sockets of one kind (readers, or
// writers): at most max run at once, and a socket that needs one beyond
// that waits in a queue, in order, until a goroutine finishes with its
// socket and takes the next. A burst — every client of a restarted node
// reconnecting within a second, a ping round — then costs at most max
// goroutines and their buffers at the same moment, not one per socket;
// the sockets waiting cost only their place in the queue (their bytes
// wait in the kernel).
//
// Locks: a Conn's mu, then pool.mu.
type pool struct {
	mu     sync.Mutex
	max    int
	active int     // goroutines running
	peak   int     // most goroutines running at once
	peakQ  int     // most sockets waiting at once
	q      []*Conn // sockets waiting, oldest first from head
	head   int
	back   []chan struct{} // goroutines back from Outside, waiting for a place
}

// acquire reports whether c may have a goroutine now; if not, c waits in
// the queue and a finishing goroutine takes it over. The caller holds
// c.mu and has marked c as served (running or writing), so that nothing
// asks for it again.
func (p *pool) acquire(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active < p.max {
		p.active++
		p.peak = max(p.peak, p.active)
		return true
	}
	p.q = append(p.q, c)
	p.peakQ = max(p.peakQ, len(p.q)-p.head)
	return false
}

// next is what a goroutine that finished with its socket does: it takes
// the oldest waiting socket, or ends (nil).
func (p *pool) next() *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.back) > 0 {
		// A goroutine back from Outside has work under way: the place
		// goes to it, and this goroutine ends.
		close(p.back[0])
		p.back = p.back[1:]
		return nil
	}
	if p.head == len(p.q) {
		p.active--
		return nil
	}
	c := p.q[p.head]
	p.q[p.head] = nil
	p.head++
	if p.head == len(p.q) || p.head > 1024 && p.head*2 > len(p.q) {
		// Reuse the queue's array once it empties or is mostly behind us.
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q, p.head = p.q[:n], 0
	}
	return c
}

// leave gives the caller's place to the oldest waiting socket, for which
// it returns a Conn to start a goroutine for (nil: none waits, the place
// is free).
func (p *pool) leave() *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.q) {
		p.active--
		return nil
	}
	c := p.q[p.head]
	p.q[p.head] = nil
	p.head++
	return c
}

// rejoin takes a place again, waiting for one if none is free.
func (p *pool) rejoin() {
	p.mu.Lock()
	if p.active < p.max {
		p.active++
		p.peak = max(p.peak, p.active)
		p.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	p.back = append(p.back, ch)
	p.mu.Unlock()
	<-ch
}

// waiting is the number of sockets in the queue.
func (p *pool) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.q) - p.head
}

// PoolStats describe one of an Engine's goroutine pools.
type PoolStats struct {
	Max     int // the bound
	Active  int // goroutines running
	Peak    int // most goroutines ever running at once
	Waiting int // sockets waiting for one
	// PeakWaiting is the longest the queue has been.
	PeakWaiting int
}

func (p *pool) stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Max: p.max, Active: p.active, Peak: p.peak, Waiting: len(p.q) - p.head, PeakWaiting: p.peakQ}
}
