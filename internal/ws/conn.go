package ws

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Handler is a Conn's owner. Its methods are called by the Conn's reader,
// one at a time and in order, never under a lock of the Conn's.
type Handler interface {
	// Message handles a text or binary message. p is valid until it
	// returns; now is when its bytes were read.
	Message(op Opcode, p []byte, now time.Time)
	// Violation is called when the peer broke the protocol, before the
	// close frame that answers it (ce.Code) is queued: the owner may queue
	// a last message first.
	Violation(ce *CloseError)
	// Closed is called once, after the socket is closed.
	Closed(cause Cause)
}

// state is where a Conn is in its life. It only moves forward:
//
//	open ──Close (ours) / close frame (theirs)──▶ closing ──▶ closed
//	  └──────Drop: kill, idle, slow reader, write error──▶ dying ──▶ closed
//
// open: frames flow both ways. closing: a close frame is queued or sent,
// nothing else is; the reader reads on until the peer's close frame, or
// for at most the close grace. dying: the socket is to be closed without a
// handshake, by the reader, which is woken (a past read deadline, or a new
// reader goroutine when parked). closed: the socket is closed and the
// owner told. Only the reader closes the socket.
type state uint8

const (
	stOpen state = iota
	stClosing
	stDying
	stClosed
)

// Conn is one server-side WebSocket.
//
// Locks: mu guards the state, the send queue and the parking flags; it is
// the innermost lock of the program. Callers may hold their own locks
// (a hub's room shard, a cluster member's) when they call Send, Drop,
// Close or Probe's first half: none of those does I/O, closes anything or
// blocks — they queue, flip the state and wake the reader or writer. The
// reader and writer never call out (Handler, hub) while holding mu.
type Conn struct {
	eng *Engine
	nc  net.Conn
	lay Layer // nc, when it keeps bytes of its own (TLS); nil for a plain socket
	h   Handler
	fd  int32  // for the Engine's poller; -1 when the socket cannot be parked there
	id  uint32 // slot in the Engine's table
	gen uint32 // the slot's generation: tells a stale poll event from a live one

	lastHeard atomic.Int64 // unix nanoseconds of the last bytes from the peer
	probing   atomic.Bool
	nextPing  int64 // unix nanoseconds; the Engine's sweeper owns it

	mu         sync.Mutex
	state      state
	cause      Cause
	running    bool          // a reader goroutine owns the socket (or will: it waits for one)
	pooled     bool          // that reader holds a place in the Engine's reader pool
	parked     bool          // waiting in the poller with no goroutine
	inPoll     bool          // the fd is in the poller's set (armed or not)
	writing    bool          // a writer goroutine runs
	outClose   bool          // out ends with our close frame
	closeSent  chan struct{} // made with our close frame; closed once it is written or cannot be
	probeCh    chan struct{} // closed when anything is heard
	out        *[]byte       // framed bytes for the writer; pooled, nil when empty
	queued     int           // payload bytes in out
	closeUntil int64         // closing: unix nanoseconds when the reader gives up on the peer's close

	// Owned by the reader.
	lastPark int64 // unix nanoseconds when a reader last parked the socket
	p        parser
	rest     []byte  // bytes of a partial frame kept while parked
	one      [1]byte // the read of a reader waiting without a poller
}

// Start begins serving nc, a socket just upgraded, with early the bytes the
// client sent after its handshake. h gets the messages. Start returns at
// once; c must be a zero Conn, and may be embedded in the owner's struct.
func (c *Conn) Start(e *Engine, nc net.Conn, early []byte, h Handler) {
	c.eng, c.nc, c.h = e, nc, h
	c.lay, _ = nc.(Layer)
	c.p.max = e.opts.MaxMessageBytes
	c.fd = e.pollFD(nc)
	now := time.Now()
	c.lastHeard.Store(now.UnixNano())
	c.rest = early
	c.mu.Lock()
	defer c.mu.Unlock()
	if !e.add(c, now) {
		c.state, c.cause = stDying, CauseGoingAway
		c.startReaderLocked()
		return
	}
	if len(early) == 0 && c.fd >= 0 && !c.layPending() {
		c.parkLocked()
		if c.parked {
			return
		}
	}
	c.startReaderLocked()
}

// Layer is a connection that keeps bytes of its own between the socket
// and the frames — a TLS record layer (package tlsrec) holds records it
// read and has not yet decrypted, and plaintext not yet returned. A
// readiness event announces none of those, so it may be parked only when
// it holds none; a plain socket needs no such care.
type Layer interface {
	net.Conn
	syscall.Conn
	// Pending reports whether Read would return data without reading the
	// socket.
	Pending() bool
	// Park gives back what the layer borrowed while reading (buffers,
	// cipher state), and what it borrowed for writing unless a write is
	// under way. The reader calls it when nothing is Pending, before the
	// socket is parked.
	Park()
	// ParkWrite gives back what the layer borrowed for writing. A writer
	// that ends while the socket is parked calls it.
	ParkWrite()
}

func (c *Conn) layPending() bool { return c.lay != nil && c.lay.Pending() }

// startReaderLocked gives c a reader: a goroutine of the Engine's reader
// pool, now or when one is free. A socket that cannot be parked keeps a
// reader of its own for its whole life, outside the pool (it would hold a
// place for good). The caller holds c.mu.
func (c *Conn) startReaderLocked() {
	c.parked, c.running = false, true
	e := c.eng
	c.pooled = c.fd >= 0
	if !c.pooled {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			c.run()
		}()
		return
	}
	if e.readers.acquire(c) {
		e.wg.Add(1)
		go e.readLoop(c)
	}
}

// wakeLocked makes the reader notice a change of state: a parked socket
// gets a reader, a running reader's blocking read ends at once. The caller
// holds c.mu.
func (c *Conn) wakeLocked() {
	switch {
	case c.parked:
		c.startReaderLocked()
	case c.running:
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// Drop closes the socket without a handshake. It does not block: the
// reader closes the socket and tells the owner. The first cause wins.
func (c *Conn) Drop(cause Cause) {
	c.mu.Lock()
	c.dropLocked(cause)
	c.mu.Unlock()
}

func (c *Conn) dropLocked(cause Cause) {
	if c.state >= stDying {
		return
	}
	c.state = stDying
	if c.cause == 0 { // a close under way keeps its cause
		c.cause = cause
	}
	c.dropOutLocked()
	// A writer blocked in a write lets go, and a TLS close_notify does
	// not wait behind it.
	c.nc.SetWriteDeadline(aLongTimeAgo)
	c.wakeLocked()
}

// Close starts the closing handshake: a close frame with code and reason
// goes out after what is queued, and nothing after it. The peer has the
// close grace to answer before the socket is dropped. It does not block.
func (c *Conn) Close(code int, reason string, cause Cause) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason, cause)
}

func (c *Conn) closeLocked(code int, reason string, cause Cause) {
	if c.state != stOpen {
		return
	}
	c.state, c.cause = stClosing, cause
	c.appendLocked(OpClose, ClosePayload(code, reason))
	c.outClose = true
	c.closeSent = make(chan struct{})
	// Until the frame is out, the writer's deadline bounds the wait; then
	// the grace does (writeLoop moves closeUntil).
	c.closeUntil = time.Now().Add(c.eng.opts.WriteTimeout + c.eng.opts.CloseGrace).UnixNano()
	c.startWriterLocked()
	c.wakeLocked()
}

// Closing reports whether the Conn no longer takes messages.
func (c *Conn) Closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state != stOpen
}

// RemoteAddr is the socket's peer address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }
