// Package hub routes peers into rooms. Rooms is the seam between the
// transport and the room backend: Local keeps rooms in this process; a
// clustered backend implements the same interface.
package hub

import (
	"context"
	"net/netip"
	"time"

	"github.com/duet-rtc/duet/room"
)

// Key names one room: a streamId inside an application namespace.
type Key struct {
	App    string
	Stream string
}

// Conn is what a backend needs of a connected peer. Implementations must be
// comparable (pointers) and safe for concurrent use.
//
// Lock order: a backend may call Send while holding its own locks (Local's
// room shard lock, a cluster member's lock), so that a room's messages
// keep their order; Send takes only the Conn's own lock, after the
// backend's, and does no I/O, logs nothing and never blocks. A backend
// never calls Probe or Kill under a lock (Probe waits for the peer; Kill
// closes the socket and logs), and the transport never calls a Rooms
// method while holding a Conn's lock.
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
	// retried once. A repeated join by a member of a full room restarts
	// the call (room.Joiner.RestartsCall). Errors are protocol errors (errors.Is with
	// protocol.ErrNoSpaceForNewPeer and friends) or ctx's error.
	Join(ctx context.Context, c Conn, k Key, info JoinInfo) error
	// Leave takes c out of room k for reason: ReasonLeft when c asked (it
	// gets leaved), another reason when its socket went away. The partner's
	// stop carries the reason. A Holder keeps the seat of a resumable member
	// whose socket went away (closed, timeout, node failure) for its grace.
	Leave(c Conn, k Key, reason Reason)
	// Relay sends frame to c's partner in room k, or returns
	// protocol.ErrNoPeerAssociated. frame is lent for the call (keeping
	// it takes a Clone); k's strings are the transport's own and may be
	// kept.
	Relay(c Conn, k Key, frame Loan) error
	// Stats returns counters for metrics.
	Stats() Stats
}

// JoinInfo is what a backend learns of a joining member beyond its
// socket. The zero value is a plain join, as the Ant Media SDKs send it.
type JoinInfo struct {
	Remote string // client address (after trusted_proxies), for listings and logs

	// duet's resume additions (docs/protocol.md). A backend that cannot
	// hold seats (see Holder) ignores Resumable and ResumeToken.
	Session     string // the client's call-session id, valid or ""; the partner gets it as peerSession
	Resumable   bool   // hold the seat for the reconnect grace if the socket is lost without leave
	ResumeToken string // take back the seat a previous socket held (the token of its last joined)
	// Restart: a repeated join of a full room by a member that sent a
	// session starts the call over only when set (room.Joiner.RestartsCall).
	Restart bool

	// Again is set when the transport believes the socket is already a
	// member and so skipped authorization: a backend that finds it is not
	// (an operator removed it meanwhile) returns ErrRemoved instead of
	// admitting it.
	Again bool
	// Addr is the client's address as HoldCaps count it (an IPv6 client
	// by its /64); the zero Addr counts only in the total.
	Addr netip.Addr
	// Prelude, when set, is queued to the joiner just before its joined,
	// only if the join admits it as a new member (the transport's held
	// answer to getIceServerConfig, which must precede any offer).
	Prelude []byte

	// Mesh rooms (room/mesh.go), for a backend that implements Mesher;
	// others ignore them. Mesh: the client speaks mesh (its join sent
	// maxPeers). MaxPeers: the room's limit if this join creates it,
	// already within what its app allows (a room of two unless above 2).
	Mesh     bool
	MaxPeers int
	// RestartPeer: with Restart, in a mesh room, only the call with this
	// member starts over.
	RestartPeer string
}

// Mesher is implemented by a backend that runs mesh rooms: a room whose
// first joiner asked for more than two members (JoinInfo.MaxPeers), where
// every relayed message names the member it is for.
type Mesher interface {
	// RelayPeer sends frame from c to the member with id peer of mesh
	// room k, with "peer" set to c's own id; in a room of two it is
	// Relay (peer is ignored). protocol.ErrNoPeerAssociated when c is no
	// member or peer names no other member.
	RelayPeer(c Conn, k Key, peer string, frame Loan) error
}

// Holder is implemented by a backend that can hold the seat of a resumable
// member whose socket is lost. A backend that does not implement it sends
// joined without a resume token, and a lost socket leaves as before.
type Holder interface {
	// ReconnectGrace is how long a seat is held; 0 means never.
	ReconnectGrace() time.Duration
}

// ReconnectGrace reports how long r holds seats: 0 when it cannot.
func ReconnectGrace(r Rooms) time.Duration {
	if h, ok := r.(Holder); ok {
		return h.ReconnectGrace()
	}
	return 0
}

// Reason says why a member left a room; the room package defines them
// (room.Reason), with the seat rules that depend on them.
type Reason = room.Reason

// Reasons a member leaves a room.
const (
	ReasonLeft        = room.ReasonLeft        // it sent leave or stop (and gets leaved)
	ReasonClosed      = room.ReasonClosed      // its socket closed
	ReasonTimeout     = room.ReasonTimeout     // it went silent (idle timeout, or a held seat's grace ran out)
	ReasonEvicted     = room.ReasonEvicted     // it did not answer a liveness probe when the room was full
	ReasonKicked      = room.ReasonKicked      // an operator removed it
	ReasonNodeFailure = room.ReasonNodeFailure // its node died (cluster)
	ReasonRestart     = room.ReasonRestart     // it joined again to start the call over (it stays in the room)
)

// Stats are a backend's counters.
type Stats struct {
	Rooms     int64 // rooms with at least one member
	Evictions int64 // members removed because they did not answer a probe
	Probes    int64 // full-room probes started
	Held      int64 // seats held now for a member whose socket was lost
	Resumes   int64 // seats taken back by a new socket (held or half-open)
	Expiries  int64 // held seats given up: the grace ran out or their buffer filled
	KeptBytes int64 // bytes of frames kept for held seats now
	// MeshMembers counts the members of mesh rooms now.
	MeshMembers int64
	// HoldLimits counts, by CapKind, the holds HoldCaps refused (a lost
	// socket left as if it had not asked to resume) or ended (CapKept).
	HoldLimits [3]int64
}
