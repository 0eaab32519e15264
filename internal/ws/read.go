package ws

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"time"

	"github.com/duet-rtc/duet/internal/poison"
)

// run is the reader; it reports whether it still holds its place in the
// Engine's reader pool (the socket may be another reader's by then). It reads and handles frames while bytes flow, and
// then either parks the socket in the poller and ends (the poller starts a
// new reader when bytes arrive) or, without a poller, waits in a one-byte
// read holding no buffer. It is the only goroutine that closes the socket.
//
// A busy socket's reader — one woken again within busyWindow of its last
// park — lingers after handling a message: it waits on in a read with a
// deadline for the Linger time before it parks, so that a socket in a
// negotiation or a data stream is not parked and woken per message. Any
// other reader parks as soon as it has handled what arrived: a socket that
// joined and went quiet, or one that got only part of a frame (a large
// message still arriving, or an attacker who sends a header and no more),
// holds no goroutine and no buffer a moment longer.
func (c *Conn) run() (pooled bool) {
	e := c.eng
	pooled = c.pooled // only this reader changes it from here
	b := e.getBuf(len(c.rest))
	buf := *b
	r, w := 0, copy(buf, c.rest)
	c.rest = nil
	broken := false  // the stream cannot be parsed on: discard until the peer closes
	shut := false    // our side of the TCP connection is closed (broken streams only)
	handled := false // a message was handled since this reader started
	lastN := 0       // bytes of the last read
	now := time.Now()
	lastRead := now
	busy := c.lastPark != 0 && now.UnixNano()-c.lastPark < int64(busyWindow)
	var armed time.Time // the read deadline set, as far as this reader knows
	for {
		// Handle every whole frame buffered.
		for !broken {
			op, pl, n, ok, err := c.p.next(buf[r:w], len(buf))
			r += n
			if err != nil {
				var ce *CloseError
				if !errors.As(err, &ce) {
					ce = ErrProtocol
				}
				c.violation(ce)
				broken = ce != ErrTooBig
				continue
			}
			if ok {
				if !c.handle(op, pl, now) {
					c.finish(b)
					return pooled
				}
				handled = true
				c.p.shrink(true)
				continue
			}
			if n == 0 {
				break
			}
		}
		if broken {
			r = w
			if lastN > 0 && !shut && c.closeWritten() {
				// Our close frame is out and the peer, whose frames can no
				// longer be parsed, sent something after it: its own close,
				// or the rest of what it was sending. Closing now would
				// answer bytes still on their way with a reset, which can
				// destroy our close frame before the peer reads it. So our
				// side ends with a FIN, and what comes next is read and
				// dropped until the peer closes too or the grace ends.
				if shut = closeWrite(c.nc); !shut {
					c.finish(b)
					return pooled
				}
			}
		}
		if r == w {
			r, w = 0, 0
		} else if r > 0 {
			w, r = copy(buf, buf[r:w]), 0
		}
		if len(buf) < bufSize && (w == len(buf) || lastN == len(buf)) {
			// A frame needs the room, or the socket sends a lot: a big
			// buffer until it parks.
			nb := e.getBuf(bufSize)
			w = copy(*nb, buf[:w])
			e.putBuf(b)
			b, buf = nb, *nb
		}

		// Decide how to wait.
		c.mu.Lock()
		var dl time.Time
		switch {
		case c.state >= stDying:
			c.mu.Unlock()
			c.finish(b)
			return pooled
		case c.state == stClosing:
			dl = time.Unix(0, c.closeUntil)
			if !now.Before(dl) {
				c.mu.Unlock()
				c.finish(b)
				return pooled
			}
		case c.fd >= 0:
			if c.layPending() {
				dl = armed // the layer has bytes: read them, the socket is not asked
				break
			}
			// Linger for a busy socket unless other sockets wait for a
			// reader; read first if this reader has not read yet.
			wait := busy && handled && e.readers.waiting() == 0 || lastN == 0
			if wait && armed.After(now) {
				dl = armed // still waiting out the linger
				break
			}
			dl = lastRead.Add(e.opts.Linger)
			if wait && now.Before(dl) {
				break
			}
			// Quiet for the linger time: park with no goroutine and no
			// buffer, keeping only the bytes of a partial frame.
			if w > 0 {
				c.rest = append([]byte(nil), buf[:w]...)
			}
			c.p.shrink(false)
			if c.lay != nil {
				c.lay.Park()
			}
			c.parkLocked()
			if c.parked {
				c.lastPark = now.UnixNano()
				c.mu.Unlock()
				e.putBuf(b)
				return pooled
			}
			c.rest, dl = nil, time.Time{} // no poller for this socket after all
			if c.pooled {
				// Its reader stays for the socket's life: not on a place
				// of the pool.
				c.pooled, pooled = false, false
				e.leavePool()
			}
		}
		if !dl.Equal(armed) {
			c.nc.SetReadDeadline(dl)
			armed = dl
		}
		idle := c.fd < 0 && c.state == stOpen && w == 0 && c.p.idle()
		c.mu.Unlock()

		// Read.
		var n int
		var err error
		if idle {
			// Wait holding no buffer.
			e.putBuf(b)
			n, err = c.nc.Read(c.one[:])
			b = e.getBuf(0)
			buf = *b
			w = copy(buf, c.one[:n])
		} else {
			n, err = c.nc.Read(buf[w:])
			w += n
		}
		now, lastN = time.Now(), n
		if n > 0 {
			lastRead = now
			c.lastHeard.Store(now.UnixNano())
			c.heard()
		}
		if err != nil && n == 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				armed = aLongTimeAgo // set by us or by a wake: look again
				continue
			}
			c.mu.Lock()
			if c.state == stOpen || c.state == stDying && c.cause == 0 {
				c.cause = CausePeerClosed
			}
			c.mu.Unlock()
			c.finish(b)
			return pooled
		}
	}
}

// closeWrite sends a FIN on the socket, if it can say it has no more to
// write (a TCP or TLS connection). crypto/tls's CloseWrite sends
// close_notify and leaves the socket open, so a connection that stayed
// with crypto/tls (TLS 1.2) then has the write side of the socket under
// it (under any wrappers, such as tlsrec.Watch) closed too.
func closeWrite(nc net.Conn) bool {
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return false
	}
	tc, ok := nc.(interface {
		ConnectionState() tls.ConnectionState
		NetConn() net.Conn
	})
	if !ok {
		return true
	}
	for under := tc.NetConn(); under != nil; {
		if cw, ok := under.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
			break
		}
		u, ok := under.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		under = u.NetConn()
	}
	return true // close_notify is out, FIN or not
}

// busyWindow is how soon after its last park a socket must wake again to
// count as busy (and linger).
const busyWindow = time.Second

// handle acts on one message or control frame. It reports false when the
// socket is done (the closing handshake is complete).
func (c *Conn) handle(op Opcode, p []byte, now time.Time) bool {
	switch op {
	case OpPing:
		c.enqueue(OpPong, p)
	case OpPong:
	case OpClose:
		code, _, err := ParseClose(p)
		c.mu.Lock()
		var ce *CloseError
		switch {
		case errors.As(err, &ce):
			c.closeLocked(ce.Code, ce.Reason, CauseProtocol)
		case code == CloseNoStatus:
			c.closeLocked(CloseNormal, "", CausePeerClosed)
		default:
			c.closeLocked(code, "", CausePeerClosed)
		}
		c.mu.Unlock()
		// The handshake is complete once our close frame is out; then the
		// server closes the TCP connection first (RFC 6455 7.1.1).
		c.waitCloseSent()
		return false
	default:
		if !c.Closing() {
			c.h.Message(op, p, now)
		}
		// p was lent to the handler for this call only (a duetpoison
		// build proves nobody kept it).
		poison.Fill(p)
	}
	return true
}

// violation answers a protocol error with its close code.
func (c *Conn) violation(ce *CloseError) {
	if c.Closing() {
		return
	}
	c.h.Violation(ce)
	c.Close(ce.Code, ce.Reason, CauseProtocol)
}

// closeWritten reports whether our close frame has been written.
func (c *Conn) closeWritten() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent == nil {
		return false
	}
	select {
	case <-c.closeSent:
		return true
	default:
		return false
	}
}

// waitCloseSent waits until the writer has sent our close frame or given up.
func (c *Conn) waitCloseSent() {
	c.mu.Lock()
	ch := c.closeSent
	c.mu.Unlock()
	if ch == nil {
		return
	}
	t := time.NewTimer(c.eng.opts.WriteTimeout + time.Second)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// finish closes the socket and tells the owner: the fd leaves the poller's
// set before it is closed, so that its number, reused by a new socket,
// cannot receive this one's events.
func (c *Conn) finish(b *[]byte) {
	c.mu.Lock()
	if c.cause == 0 {
		c.cause = CausePeerClosed
	}
	cause := c.cause
	c.state, c.running, c.parked = stClosed, false, false
	if c.inPoll {
		c.eng.poll.remove(c)
		c.inPoll = false
	}
	c.dropOutLocked()
	c.nc.SetWriteDeadline(aLongTimeAgo)
	probe := c.probeCh
	c.probeCh = nil
	c.mu.Unlock()
	if probe != nil {
		close(probe)
	}
	c.eng.remove(c)
	c.nc.Close()
	c.eng.putBuf(b)
	c.p.msg, c.rest = nil, nil
	c.h.Closed(cause)
}
