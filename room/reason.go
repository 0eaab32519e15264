package room

// Reason says why a member left a room. Its values travel between cluster
// nodes as one byte: never renumber them.
type Reason uint8

// Reasons a member leaves a room.
const (
	ReasonLeft        Reason = iota + 1 // it sent leave or stop (and gets leaved)
	ReasonClosed                        // its socket closed
	ReasonTimeout                       // it went silent (idle timeout, or a held seat's grace ran out)
	ReasonEvicted                       // it did not answer a liveness probe when the room was full
	ReasonKicked                        // an operator removed it
	ReasonNodeFailure                   // its node died (cluster)
	ReasonRestart                       // it joined again to start the call over (it stays in the room)
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
	case ReasonRestart:
		return "restart"
	}
	return "unknown"
}

// ParseReason is the reason named s (Reason.String), or 0.
func ParseReason(s string) Reason {
	for r := ReasonLeft; r <= ReasonRestart; r++ {
		if r.String() == s {
			return r
		}
	}
	return 0
}

// Holding reports whether a member that leaves for reason keeps a
// resumable seat: its socket went away without it asking to leave, and
// nobody removed it on purpose.
func Holding(reason Reason) bool {
	switch reason {
	case ReasonClosed, ReasonTimeout, ReasonNodeFailure:
		return true
	}
	return false
}
