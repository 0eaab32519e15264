// Package room is the peer-to-peer room as pure logic: an event goes in,
// the messages to send come out. It does no I/O and keeps no clock, so
// every transition is table-tested; the backends (hub.Local, the cluster)
// own the locking, the storage and the delivery.
//
// Room is the Ant Media room of two: who is in, who offers. Seats is the
// room with duet's seat rules on top (sessions, resume tokens, held seats
// and what is kept for them): both backends run it, one under a shard
// lock and one under compare-and-set on a stored value.
package room

// Kind says which message an Action sends.
type Kind uint8

// Messages a room transition asks to send.
const (
	Joined Kind = iota + 1 // notification joined, to the joiner
	Start                  // start, to the waiting peer: it must offer
	Leaved                 // notification leaved, to the peer that left
	Stop                   // stop, to the peer whose partner went away

	// duet's resume notices (Seats), only to members that asked to be
	// resumable.
	Reconnecting // notification peerReconnecting: the partner's seat is held
	Reconnected  // notification peerReconnected: the partner took its seat back

	// What Seats sends a member beyond room messages.
	Prelude // the joiner's prelude (the transport's held ICE answer), before its joined
	Frame   // a frame kept for a held seat, delivered after its resumed joined
)

func (k Kind) String() string {
	switch k {
	case Joined:
		return "joined"
	case Start:
		return "start"
	case Leaved:
		return "leaved"
	case Stop:
		return "stop"
	case Reconnecting:
		return "peerReconnecting"
	case Reconnected:
		return "peerReconnected"
	case Prelude:
		return "prelude"
	case Frame:
		return "frame"
	}
	return "unknown"
}

// Action is one message to send to one member.
type Action[M comparable] struct {
	Kind Kind
	To   M
}

// Room holds up to two members. members[0] is the one that waited longest:
// it receives start when the room fills, so it makes the offer. The zero
// value is an empty room.
type Room[M comparable] struct {
	members [2]M
	n       int
}

// Len is the number of members.
func (r *Room[M]) Len() int { return r.n }

// Empty reports whether the room has no members and can be forgotten.
func (r *Room[M]) Empty() bool { return r.n == 0 }

// Members returns the current members, oldest first.
func (r *Room[M]) Members() []M { return append([]M(nil), r.members[:r.n]...) }

// Has reports whether m is a member.
func (r *Room[M]) Has(m M) bool {
	for i := 0; i < r.n; i++ {
		if r.members[i] == m {
			return true
		}
	}
	return false
}

// Join adds m. A repeated join by a member answers joined again and changes
// nothing. In a full room nothing changes and Full is returned.
// The order of the actions is the order to send them: the joiner's joined
// comes before the waiting peer's start.
func (r *Room[M]) Join(m M) (JoinResult, []Action[M]) {
	if r.Has(m) {
		return Admitted, []Action[M]{{Joined, m}}
	}
	switch r.n {
	case 0:
		r.members[0], r.n = m, 1
		return Admitted, []Action[M]{{Joined, m}}
	case 1:
		r.members[1], r.n = m, 2
		return Admitted, []Action[M]{{Joined, m}, {Start, r.members[0]}}
	}
	return Full, nil
}

// Restart is a repeated join by m that starts its call over: a member of
// a full room leaves, without leaved (its partner gets stop and becomes
// the waiting peer), and joins again (m gets joined, then the partner
// start: the partner offers). This is how a client that tore its side of
// the call down and joins again on the same socket gets a new negotiation
// (the Ant Media iOS SDK calls again so). For anyone else, a member
// waiting alone included, it is Join.
func (r *Room[M]) Restart(m M) (JoinResult, []Action[M]) {
	if r.n != 2 || !r.Has(m) {
		return r.Join(m)
	}
	acts := r.Leave(m, false)
	res, joined := r.Join(m)
	return res, append(acts, joined...)
}

// Leave removes m. explicit is true for a leave or stop command (m gets
// leaved) and false for a closed or dead socket. The partner, if any, gets
// stop and becomes the waiting peer. Leaving a room one is not in changes
// nothing; when explicit it still answers leaved, as duet's server
// answers a leave for a room the socket is not in.
func (r *Room[M]) Leave(m M, explicit bool) []Action[M] {
	var acts []Action[M]
	if explicit {
		acts = append(acts, Action[M]{Leaved, m})
	}
	switch {
	case r.n >= 1 && r.members[0] == m:
		r.members[0] = r.members[1]
	case r.n == 2 && r.members[1] == m:
	default:
		return acts
	}
	var zero M
	r.members[1] = zero
	r.n--
	if r.n == 1 {
		acts = append(acts, Action[M]{Stop, r.members[0]})
	} else {
		r.members[0] = zero
	}
	return acts
}

// Partner returns the member a relay from m goes to. ok is false unless the
// room is full and m is in it.
func (r *Room[M]) Partner(m M) (p M, ok bool) {
	if r.n != 2 {
		return p, false
	}
	switch m {
	case r.members[0]:
		return r.members[1], true
	case r.members[1]:
		return r.members[0], true
	}
	return p, false
}

// Replace puts n in m's seat, keeping the seat's place (so the member that
// waited longest still receives start) and sending nothing: a member that
// resumes on a new socket is the same member to its partner. It reports
// false, changing nothing, when m is not a member or n already is.
func (r *Room[M]) Replace(m, n M) bool {
	if r.Has(n) {
		return false
	}
	for i := 0; i < r.n; i++ {
		if r.members[i] == m {
			r.members[i] = n
			return true
		}
	}
	return false
}
