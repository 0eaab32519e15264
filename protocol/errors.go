package protocol

// Error is an error definition as it travels on the wire in
// {"command":"error","definition":"..."}. The constants below are the only
// place the spellings live; compare with errors.Is, never by string.
type Error string

func (e Error) Error() string { return string(e) }

// Definitions the Ant Media SDKs already know. Their spelling is theirs.
const (
	ErrNoStreamName       Error = "noStreamNameSpecified"
	ErrInvalidStreamName  Error = "invalidStreamName"
	ErrNoSpaceForNewPeer  Error = "NoSpaceForNewPeer"
	ErrNoPeerAssociated   Error = "no_peer_associated_before"
	ErrUnauthorized       Error = "unauthorized_access"
	ErrTokenNotValid      Error = "authenticationTokenNotValid"
	ErrHighResourceUsage  Error = "highResourceUsage"
	ErrMissingParameter   Error = "missingParameter"
	ErrNotSetRemoteDesc   Error = "notSetRemoteDescription"
	ErrUnsupportedCommand Error = "unsupportedCommand"
)

// Definitions added by duet where none of the above fits.
const (
	ErrInvalidJSON        Error = "invalidJSON"        // the frame is not a JSON object
	ErrInvalidParameter   Error = "invalidParameter"   // a known field has the wrong JSON type
	ErrRateLimited        Error = "rateLimited"        // too many messages; the message was dropped
	ErrMessageTooLarge    Error = "messageTooLarge"    // frame over the configured limit; the socket closes
	ErrTooManyRooms       Error = "tooManyRooms"       // the socket is already in the maximum number of rooms
	ErrServiceUnavailable Error = "serviceUnavailable" // the room backend cannot take joins right now
	ErrNotInRoom          Error = "notInRoom"          // no longer sent: earlier duet servers' answer to a leave for a room the socket is not in (now leaved)
	ErrRelayFailed        Error = "relayFailed"        // relayed messages were dropped on the way to the partner (cluster outage)
	ErrMeshClientRequired Error = "meshClientRequired" // the room is a mesh room and the join did not say it speaks mesh (maxPeers)
)

// Definitions lists every error definition the server can send, for docs and tests.
var Definitions = []Error{
	ErrNoStreamName, ErrInvalidStreamName, ErrNoSpaceForNewPeer, ErrNoPeerAssociated,
	ErrUnauthorized, ErrTokenNotValid, ErrHighResourceUsage, ErrMissingParameter,
	ErrNotSetRemoteDesc, ErrUnsupportedCommand, ErrInvalidJSON, ErrInvalidParameter,
	ErrRateLimited, ErrMessageTooLarge, ErrTooManyRooms, ErrServiceUnavailable,
	ErrRelayFailed, ErrMeshClientRequired,
}
