package protocol

import "strconv"

// Mesh rooms (docs/protocol.md, "Mesh rooms"): a room of more than two,
// where every message about another member names it in "peer".

// MeshPeer is another member of a mesh room, as a joined lists it.
type MeshPeer struct {
	ID      string
	Session string // left out when empty
	Held    bool   // its seat is held: its socket is lost
}

func appendMeshJoined(dst []byte, info JoinedInfo) []byte {
	dst = append(dst, `,"maxPeers":`...)
	dst = strconv.AppendInt(dst, int64(info.MaxPeers), 10)
	if info.PeerID == "" {
		return dst
	}
	dst = append(dst, `,"peerId":`...)
	dst = AppendString(dst, info.PeerID)
	dst = append(dst, `,"peers":[`...)
	for i, p := range info.Peers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = AppendString(dst, p.ID)
		if p.Session != "" {
			dst = append(dst, `,"session":`...)
			dst = AppendString(dst, p.Session)
		}
		if p.Held {
			dst = append(dst, `,"reconnecting":true`...)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// WithPeer adds "peer":id to the encoded message b (an object ending in
// '}'): the member of a mesh room the message is from or about.
func WithPeer(b []byte, id string) []byte {
	b = append(b[:len(b)-1], `,"peer":`...)
	b = AppendString(b, id)
	return append(b, '}')
}
