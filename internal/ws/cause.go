package ws

// Cause says why a Conn ended. The owner learns it once, in
// Handler.Closed: a socket that ended without the peer saying goodbye
// may deserve its seat held (resume), one that timed out may not.
type Cause uint8

// Why a connection ended.
const (
	CausePeerClosed  Cause = iota + 1 // the peer sent a close frame, or the connection ended or failed under it
	CauseIdleTimeout                  // nothing (no frame, no pong) heard for the idle timeout
	CauseWriteFailed                  // a write failed or timed out
	CauseSlowReader                   // the send queue overflowed: the peer does not read
	CauseGoingAway                    // the server is shutting down (drain, or the Engine closed)
	CauseProtocol                     // the peer broke the protocol; it got the close code that says how
	CausePolicy                       // the owner closed it (rate limit, bad input, capacity)
	CauseKilled                       // the owner dropped it (an unanswered liveness probe)
)

// String names the cause for logs and metrics.
func (c Cause) String() string {
	switch c {
	case CausePeerClosed:
		return "peer_closed"
	case CauseIdleTimeout:
		return "idle_timeout"
	case CauseWriteFailed:
		return "write_failed"
	case CauseSlowReader:
		return "slow_reader"
	case CauseGoingAway:
		return "going_away"
	case CauseProtocol:
		return "protocol_error"
	case CausePolicy:
		return "policy"
	case CauseKilled:
		return "killed"
	}
	return "unknown"
}
