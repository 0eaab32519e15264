package client

import (
	"errors"

	"github.com/duet-rtc/duet/protocol"
)

// Errors of the SDK itself. Errors the server sends are *ServerError.
var (
	// ErrClosed: the Client, Peer or Subscription was closed.
	ErrClosed = errors.New("client: closed")
	// ErrNotConnected: the socket is down (a reconnect may be under way).
	ErrNotConnected = errors.New("client: not connected")
	// ErrSlowConsumer: a Subscription's buffer overflowed because its
	// events were not read; it was closed.
	ErrSlowConsumer = errors.New("client: subscription not read fast enough")
	// ErrPeerLeft: the partner hung up (left the room, was kicked, or
	// closed the connection), or the server said it was gone while the
	// connection was not up.
	ErrPeerLeft = errors.New("client: peer left")
	// ErrSignalingLost: no longer returned. A lost signaling socket used
	// to end the session; now the session outlives it.
	//
	// Deprecated: kept so that code testing for it still compiles.
	ErrSignalingLost = errors.New("client: signaling socket lost")
	// ErrConnectionFailed: ICE or DTLS failed (connection state "failed")
	// before the connection was ever up, or ICE restarts did not bring it
	// back.
	ErrConnectionFailed = errors.New("client: peer connection failed")
	// ErrReplaced: another partner took the other seat (start from a new
	// peer, or an offer from another PeerConnection), replacing the
	// session.
	ErrReplaced = errors.New("client: session replaced by a new negotiation")
)

// ServerError is an error message from the server. It wraps its definition,
// so errors.Is(err, protocol.ErrNoSpaceForNewPeer) works.
type ServerError struct {
	Room       string         // the streamId the error is about, if the server named one
	Definition protocol.Error // e.g. protocol.ErrNoSpaceForNewPeer
	// Join is true when the error refused a join of Room (sent by Join, or
	// again after a reconnect): the client is not in that room.
	Join bool
}

// Error names the definition and the room.
func (e *ServerError) Error() string {
	if e.Room == "" {
		return "duet server: " + string(e.Definition)
	}
	return "duet server: " + string(e.Definition) + " (room " + e.Room + ")"
}

// Unwrap returns the definition.
func (e *ServerError) Unwrap() error { return e.Definition }

// joinFailure reports whether an error about a room answers a join (as
// opposed to a relay or a malformed message).
func joinFailure(def protocol.Error) bool {
	switch def {
	case protocol.ErrNoPeerAssociated, protocol.ErrMissingParameter, protocol.ErrInvalidParameter,
		protocol.ErrNotSetRemoteDesc, protocol.ErrUnsupportedCommand, protocol.ErrRateLimited,
		protocol.ErrInvalidJSON, protocol.ErrMessageTooLarge, protocol.ErrNotInRoom:
		return false
	}
	return true
}
