package hub

import (
	"context"
	"errors"
	"time"

	"github.com/duet-rtc/duet/protocol"
)

// Errors of the Admin operations.
var (
	ErrNoSuchRoom   = errors.New("hub: no such room")
	ErrNoSuchMember = errors.New("hub: no such member in this room")
	// ErrRemoved answers a join with JoinInfo.Again from a socket that is
	// no longer a member (an operator removed it meanwhile): the transport
	// must forget the room and join afresh, authorization included.
	ErrRemoved = errors.New("hub: the socket was removed from this room")
)

// Admin is implemented by backends that operators can inspect and steer
// (the admin API). In a cluster every node answers for the whole cluster.
type Admin interface {
	// Snapshot lists the rooms that match f with their members, and the
	// nodes that answered.
	Snapshot(ctx context.Context, f Filter) (Snapshot, error)
	// EndRoom removes every member of room k: each gets stop and leaved
	// with reason. It returns how many members it removed, or
	// ErrNoSuchRoom.
	EndRoom(ctx context.Context, k Key, reason Reason) (int, error)
	// Kick removes one member (Member.ID) from room k: it gets stop and
	// leaved with reason, its partner stop with reason. ErrNoSuchRoom,
	// ErrNoSuchMember.
	Kick(ctx context.Context, k Key, member string, reason Reason) error
	// SetNodeInfo gives the backend what it reports about this node
	// beyond its rooms (the transport's socket count, the version). Set
	// it before serving.
	SetNodeInfo(func() NodeInfo)
}

// Filter selects rooms: by app, by room (both needed), at most Limit
// rooms (0: no limit) in (app, room) order.
type Filter struct {
	App, Stream string
	Limit       int
}

// Match reports whether f selects room k.
func (f Filter) Match(k Key) bool {
	return (f.App == "" || f.App == k.App) && (f.Stream == "" || f.Stream == k.Stream)
}

// RoomInfo is one room as operators see it.
type RoomInfo struct {
	Key Key
	// Members, oldest first: the first one made (or will make) the offer.
	Members []Member
	// CallStart is when the room was filled, zero while a member waits.
	CallStart time.Time
	// MaxPeers is a mesh room's limit; 0 for a room of two.
	MaxPeers int
}

// NodeInfo describes one node.
type NodeInfo struct {
	ID          string
	Version     string
	Started     time.Time
	Connections int // open sockets
	Rooms       int // rooms with a member on this node
	Members     int // members with their socket on this node
}

// Snapshot is a listing of rooms. Truncated says that Filter.Limit cut
// it; Partial that some live node did not answer in time, so rooms or
// members on it are missing (Expected is how many nodes should have).
type Snapshot struct {
	Rooms     []RoomInfo
	Nodes     []NodeInfo
	Truncated bool
	Partial   bool
	Expected  int
}

// Of counts an admin listing's rooms and members.
func (s Snapshot) Of() (rooms, members int) {
	for _, r := range s.Rooms {
		members += len(r.Members)
	}
	return len(s.Rooms), members
}

// StopFrame encodes stop for room stream with a reason (the wire's
// hub.Reason names): {"command":"stop","streamId":...,"reason":...}.
func StopFrame(stream string, r Reason) []byte {
	b := protocol.Simple(nil, protocol.CmdStop, stream)
	return withReason(b, r)
}

// LeavedFrame encodes notification leaved with a reason: what a member
// that an operator removed gets after its stop.
func LeavedFrame(stream string, r Reason) []byte {
	b := protocol.Notification(nil, protocol.NotifyLeaved, stream)
	return withReason(b, r)
}

func withReason(b []byte, r Reason) []byte {
	b = append(b[:len(b)-1], `,"reason":`...)
	b = protocol.AppendString(b, r.String())
	return append(b, '}')
}
