package protocol

import "strconv"

// Notification definitions of duet's resume additions, sent only to
// members that joined with resumable: true.
const (
	NotifyPeerReconnecting = "peerReconnecting" // the partner's socket is lost; its seat is held
	NotifyPeerReconnected  = "peerReconnected"  // the partner took its seat back on a new socket
)

// JoinedInfo is what a joined notification carries beyond its streamId.
// The zero value encodes exactly the Ant Media SDKs' joined.
type JoinedInfo struct {
	ResumeToken    string // the seat's new resume token (resumable joins only)
	ReconnectGrace int64  // milliseconds the seat is held for; sent with ResumeToken
	Resumed        bool   // the join took a held (or half-open) seat back
	PeerSession    string // the partner's session, for a join that sent one

	// Mesh rooms (mesh.go): for a join that sent maxPeers, MaxPeers is
	// the room's limit (2: a room of two, and nothing else is sent); in
	// a mesh room PeerID is the joiner's id and Peers the other members.
	MaxPeers int
	PeerID   string
	Peers    []MeshPeer
}

// Joined encodes the notification joined for streamID with info's extra
// fields; those that are empty are left out.
func Joined(dst []byte, streamID string, info JoinedInfo) []byte {
	dst = append(dst, `{"command":"notification","definition":"joined","streamId":`...)
	dst = AppendString(dst, streamID)
	if info.ResumeToken != "" {
		dst = append(dst, `,"resumeToken":`...)
		dst = AppendString(dst, info.ResumeToken)
		dst = append(dst, `,"reconnectGrace":`...)
		dst = strconv.AppendInt(dst, info.ReconnectGrace, 10)
	}
	if info.Resumed {
		dst = append(dst, `,"resumed":true`...)
	}
	if info.PeerSession != "" {
		dst = append(dst, `,"peerSession":`...)
		dst = AppendString(dst, info.PeerSession)
	}
	if info.MaxPeers != 0 {
		dst = appendMeshJoined(dst, info)
	}
	return append(dst, '}')
}

// Start encodes start for streamID; peerSession (the joiner's session) is
// left out when empty.
func Start(dst []byte, streamID, peerSession string) []byte {
	dst = append(dst, `{"command":"start","streamId":`...)
	dst = AppendString(dst, streamID)
	if peerSession != "" {
		dst = append(dst, `,"peerSession":`...)
		dst = AppendString(dst, peerSession)
	}
	return append(dst, '}')
}

// Stop encodes stop for streamID with the reason the partner went away
// (a hub.Reason name); an empty reason is left out.
func Stop(dst []byte, streamID, reason string) []byte {
	dst = append(dst, `{"command":"stop","streamId":`...)
	dst = AppendString(dst, streamID)
	if reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = AppendString(dst, reason)
	}
	return append(dst, '}')
}

// PeerReconnecting encodes the notice that the partner's socket is lost
// and its seat is held for graceMillis.
func PeerReconnecting(dst []byte, streamID string, graceMillis int64) []byte {
	dst = Notification(dst, NotifyPeerReconnecting, streamID)
	dst = append(dst[:len(dst)-1], `,"reconnectGrace":`...)
	dst = strconv.AppendInt(dst, graceMillis, 10)
	return append(dst, '}')
}

// PeerReconnected encodes the notice that the partner took its seat back.
func PeerReconnected(dst []byte, streamID string) []byte {
	return Notification(dst, NotifyPeerReconnected, streamID)
}
