package hub

import (
	"time"
)

// EventKind names a room event, as webhooks send it.
type EventKind uint8

// Room events. A join that fills a room is a PeerJoined followed by a
// CallStarted; a member leaving a full room is a PeerLeft followed by a
// CallEnded.
const (
	PeerJoined  EventKind = iota + 1 // a member entered a room
	CallStarted                      // a second member entered: the two are in a call
	CallEnded                        // a full room lost a member: the call is over
	PeerLeft                         // a member left a room
)

// String is the event's name in webhooks.
func (k EventKind) String() string {
	switch k {
	case PeerJoined:
		return "peer_joined"
	case CallStarted:
		return "call_started"
	case CallEnded:
		return "call_ended"
	case PeerLeft:
		return "peer_left"
	}
	return "unknown"
}

// Member describes one member of a room for operators.
type Member struct {
	// ID names the member within its room; it is opaque (a cluster's ids
	// also name the node) and is what Admin.Kick takes.
	ID        string
	Node      string    // the node holding the member's socket
	Remote    string    // client address (after trusted_proxies)
	JoinedAt  time.Time // when the member entered the room
	Resumable bool      // its seat is kept over a lost socket (it asked, and the backend holds seats)
	Held      bool      // its socket is lost and its seat held for it (listings only)
	Peer      string    // its id in a mesh room; "" in a room of two
}

// Event is one room transition, reported once, by the node that performed
// it: in a cluster, the node whose membership write committed it.
type Event struct {
	Kind EventKind
	Key  Key
	Time time.Time
	Node string // the node that performed the transition
	// Member joined (PeerJoined, CallStarted) or left (PeerLeft, CallEnded).
	Member Member
	// Members are the call's two members, oldest first (CallStarted,
	// CallEnded).
	Members []Member
	// Reason says why Member left (PeerLeft, CallEnded).
	Reason Reason
	// CallStart is when the call began (CallStarted, CallEnded); zero in a
	// CallEnded when the node that ended it could not learn it.
	CallStart time.Time
}

// Observer receives room events. A backend calls RoomEvent while it holds
// the room's lock, in the order of the room's transitions: it must return
// quickly, never block, never log (logging is I/O) and never call back
// into the backend.
type Observer interface {
	RoomEvent(Event)
}

// Observable is implemented by backends that report room events. Set the
// observer before the backend takes its first join.
type Observable interface {
	SetObserver(Observer)
}

// Removable is an optional interface of a Conn: a backend that takes the
// Conn out of a room without being asked (an operator's kick) calls
// Removed, so that the transport forgets the room. It must not block.
type Removable interface {
	Removed(k Key)
}
