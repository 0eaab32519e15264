package hub

import (
	"time"

	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

// Encode is the frame of message m of a room.Step for room stream: what
// both backends send. grace is the reconnect grace that a resumable
// joined and peerReconnecting carry; prelude is the joiner's (JoinInfo).
func Encode[M comparable](stream string, m room.Msg[M], grace time.Duration, prelude []byte) []byte {
	if m.Peer != "" && m.Kind != room.Joined {
		return protocol.WithPeer(encode(stream, m, grace, prelude), m.Peer)
	}
	return encode(stream, m, grace, prelude)
}

func encode[M comparable](stream string, m room.Msg[M], grace time.Duration, prelude []byte) []byte {
	switch m.Kind {
	case room.Joined:
		j := protocol.JoinedInfo{ResumeToken: m.Token, Resumed: m.Resumed, PeerSession: m.Session,
			MaxPeers: m.Max, PeerID: m.Peer, Peers: meshPeers(m.Peers)}
		if m.Token != "" {
			j.ReconnectGrace = grace.Milliseconds()
		}
		return protocol.Joined(nil, stream, j)
	case room.Start:
		return protocol.Start(nil, stream, m.Session)
	case room.Stop:
		if m.Reason == 0 {
			return protocol.Simple(nil, protocol.CmdStop, stream)
		}
		return StopFrame(stream, m.Reason)
	case room.Leaved:
		if m.Reason == 0 {
			return protocol.Notification(nil, protocol.NotifyLeaved, stream)
		}
		return LeavedFrame(stream, m.Reason)
	case room.Reconnecting:
		return protocol.PeerReconnecting(nil, stream, grace.Milliseconds())
	case room.Reconnected:
		return protocol.PeerReconnected(nil, stream)
	case room.Prelude:
		return prelude
	case room.Frame:
		return m.Frame
	}
	panic("hub: unknown room message")
}

func meshPeers(ps []room.PeerInfo) []protocol.MeshPeer {
	if len(ps) == 0 {
		return nil
	}
	out := make([]protocol.MeshPeer, len(ps))
	for i, p := range ps {
		out[i] = protocol.MeshPeer{ID: p.ID, Session: p.Session, Held: p.Held}
	}
	return out
}

// Frame encodes the message for a room action as the Ant Media SDKs know
// it (no stop reason).
func Frame(kind room.Kind, stream string) []byte {
	return Encode(stream, room.Msg[struct{}]{Kind: kind}, 0, nil)
}
