package ws

import (
	"context"
	"time"
)

// Send queues a copy of p as a text frame and reports whether it was
// queued. It never blocks and does no I/O, so it may be called under the
// caller's locks: a writer goroutine runs only while frames are queued. A
// frame that would push the queue past SendQueueBytes drops the socket
// (CauseSlowReader): a reader that slow cannot follow a negotiation, and
// nobody else may wait for it. The reader, not Send, closes the socket.
func (c *Conn) Send(p []byte) bool { return c.enqueue(OpText, p) }

func (c *Conn) enqueue(op Opcode, p []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stOpen {
		return false
	}
	if c.queued+len(p) > c.eng.opts.SendQueueBytes {
		c.dropLocked(CauseSlowReader)
		return false
	}
	c.appendLocked(op, p)
	c.queued += len(p)
	c.startWriterLocked()
	return true
}

// appendLocked frames p onto the send buffer. The caller holds c.mu.
func (c *Conn) appendLocked(op Opcode, p []byte) {
	if c.out == nil {
		c.out = c.eng.getOut(op)
	}
	b := AppendHeader(*c.out, op, len(p))
	*c.out = append(b, p...)
}

// dropOutLocked discards what is queued. The caller holds c.mu.
func (c *Conn) dropOutLocked() {
	c.eng.putOut(c.out)
	c.out, c.outClose, c.queued = nil, false, 0
	c.markCloseSentLocked()
}

// startWriterLocked gives c a writer, from the Engine's writer pool, now
// or when one is free, unless it has one. The caller holds c.mu.
func (c *Conn) startWriterLocked() {
	if !c.writing && c.state < stDying {
		c.writing = true
		if c.eng.writers.acquire(c) {
			c.eng.wg.Add(1)
			go c.eng.writeLoop(c)
		}
	}
}

// writeLoop sends everything queued, one write per batch, and ends when the
// queue is empty. It swaps the queued buffer for an empty one, so senders
// append to one while the other is written.
func (c *Conn) writeLoop() {
	var spare *[]byte
	for {
		c.mu.Lock()
		if c.out == nil || len(*c.out) == 0 || c.state >= stDying {
			c.writing = false
			if c.state >= stDying {
				c.dropOutLocked()
			}
			if c.parked && c.lay != nil {
				// The reader parked while this writer wrote, and could
				// not take the layer's write state back then.
				c.lay.ParkWrite()
			}
			c.mu.Unlock()
			c.eng.putOut(spare)
			return
		}
		batch, sentClose := c.out, c.outClose
		c.out, c.outClose, c.queued = spare, false, 0
		// Set under mu, so that a Drop's past deadline is not undone.
		c.nc.SetWriteDeadline(time.Now().Add(c.eng.opts.WriteTimeout))
		c.mu.Unlock()

		_, err := c.nc.Write(*batch)
		if cap(*batch) > maxPooledOut {
			batch = nil // let a burst's big buffer go
		} else {
			*batch = (*batch)[:0]
		}
		spare = batch
		if err != nil {
			c.mu.Lock()
			c.writing = false
			c.dropLocked(CauseWriteFailed)
			c.dropOutLocked()
			c.mu.Unlock()
			c.eng.putOut(spare)
			return
		}
		if sentClose {
			c.mu.Lock()
			// The peer now has the grace to answer our close.
			c.closeUntil = time.Now().Add(c.eng.opts.CloseGrace).UnixNano()
			c.markCloseSentLocked()
			c.wakeLocked()
			c.mu.Unlock()
		}
	}
}

// markCloseSentLocked releases waitCloseSent. The caller holds c.mu.
func (c *Conn) markCloseSentLocked() {
	if c.closeSent != nil {
		select {
		case <-c.closeSent:
		default:
			close(c.closeSent)
		}
	}
}

// ping sends a WebSocket ping (the Engine's sweeper calls it).
func (c *Conn) ping() { c.enqueue(OpPing, nil) }

// Probe sends a ping and reports whether anything is heard from the peer
// before ctx ends.
func (c *Conn) Probe(ctx context.Context) bool {
	c.mu.Lock()
	if c.state != stOpen {
		c.mu.Unlock()
		return false
	}
	if c.probeCh == nil {
		c.probeCh = make(chan struct{})
	}
	ch := c.probeCh
	c.probing.Store(true)
	c.mu.Unlock()
	if !c.enqueue(OpPing, []byte("probe")) {
		return false
	}
	select {
	case <-ch:
		return !c.Closing()
	case <-ctx.Done():
		return false
	}
}

// heard releases a probe waiting for any sign of life.
func (c *Conn) heard() {
	if c.probing.Load() {
		c.mu.Lock()
		if c.probeCh != nil {
			close(c.probeCh)
			c.probeCh = nil
		}
		c.probing.Store(false)
		c.mu.Unlock()
	}
}
