// Package hub routes peers into rooms. Rooms is the seam between the
// transport and the room backend: Local keeps rooms in this process; a
// clustered backend implements the same interface.
package hub

import (
	"context"
)

// Key names one room: a streamId inside an application namespace.
type Key struct {
	App    string
	Stream string
}

// Conn is what a backend needs of a connected peer. Implementations must be
// comparable (pointers) and safe for concurrent use.
//
// Lock order: a backend may call Send and Kill while holding its own locks
// (Local's room shard lock, a cluster member's lock); a Conn takes only its
// own lock inside them, after the backend's, and does no I/O, closes
// nothing and never blocks there. A backend never calls Probe under a lock
// (it waits for the peer), and the transport never calls a Rooms method
// while holding a Conn's lock.
type Conn interface {
	// Send queues a copy of one frame for the peer and never blocks: the
	// caller may reuse frame once Send returns. It reports false when the
	// frame was dropped because the connection is closing or gone (or
	// was, by this frame, found too slow: its own goroutine drops it).
	Send(frame []byte) bool
	// Probe reports whether the peer answers a liveness check before ctx ends.
	Probe(ctx context.Context) bool
	// Kill drops the connection without a handshake and returns at once;
	// the transport then calls Leave for each of its rooms.
	Kill(reason string)
}

// Rooms is the room backend as the transport sees it. Every method is safe
// for concurrent use. Messages for a peer are queued with Conn.Send in the
// order the room state machine produces them.
type Rooms interface {
	// Join puts c into room k and sends the resulting notifications. A
	// full room has its members probed; dead ones are evicted and the join
	// retried once. Errors are protocol errors (errors.Is with
	// protocol.ErrNoSpaceForNewPeer and friends) or ctx's error.
	Join(ctx context.Context, c Conn, k Key, info JoinInfo) error
	// Leave takes c out of room k for reason: ReasonLeft when c asked (it
	// gets leaved), another reason when its socket went away.
	Leave(c Conn, k Key, reason Reason)
	// Relay sends frame to c's partner in room k, or returns
	// protocol.ErrNoPeerAssociated. It must not keep k or frame after it
	// returns: both may point into the sender's read buffer.
	Relay(c Conn, k Key, frame []byte) error
	// Stats returns counters for metrics.
	Stats() Stats
}

// JoinInfo is what a backend learns of a joining member beyond its
// socket. The zero value is a plain join, as the Ant Media SDKs send it.
type JoinInfo struct {
	Remote string // client address (after trusted_proxies), for listings and logs
}

// Reason says why a member left a room.
type Reason uint8

// Reasons a member leaves a room.
const (
	ReasonLeft        Reason = iota + 1 // it sent leave or stop (and gets leaved)
	ReasonClosed                        // its socket closed
	ReasonTimeout                       // it went silent (idle timeout, or a held seat's grace ran out)
	ReasonEvicted                       // it did not answer a liveness probe when the room was full
	ReasonKicked                        // an operator removed it
	ReasonNodeFailure                   // its node died (cluster)
)

// String is the reason's name on the wire and in logs.
func (r Reason) String() string {
	switch r {
	case ReasonLeft:
		return "left"
	case ReasonClosed:
		return "closed"
	case ReasonTimeout:
		return "timeout"
	case ReasonEvicted:
		return "evicted"
	case ReasonKicked:
		return "kicked"
	case ReasonNodeFailure:
		return "nodeFailure"
	}
	return "unknown"
}

// Stats are a backend's counters.
type Stats struct {
	Rooms     int64 // rooms with at least one member
	Evictions int64 // members removed because they did not answer a probe
	Probes    int64 // full-room probes started
}
