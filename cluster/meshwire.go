package cluster

import (
	"encoding/binary"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/varbuf"
)

// msgMeshEvent is a mesh room's transition for a local member: like
// msgEvent, but its messages travel encoded (the writer's room.Step has
// already given each its peer, reason and session for this member), and it
// carries the room's members afterwards, so that the member's node routes
// its relays without reading the bucket.
const msgMeshEvent byte = 9

// meshPeer is one member of a mesh room as a member's node sees it.
type meshPeer struct {
	id     string // its id in the room (room.Seat.Peer)
	member string // its member id: its node and socket
	held   bool   // its seat is held: frames for it are kept in the room
}

// meshEventBody appends a mesh event's body to b: to, app, stream, prev,
// rev, flags, the members, the frames.
func meshEventBody(b []byte, to uint64, k hub.Key, ev event) []byte {
	b = binary.AppendUvarint(b, to)
	b = appendString(b, k.App)
	b = appendString(b, k.Stream)
	b = binary.AppendUvarint(b, ev.prev)
	b = binary.AppendUvarint(b, ev.rev)
	b = append(b, ev.flags)
	b = binary.AppendUvarint(b, uint64(len(ev.peers)))
	for _, p := range ev.peers {
		b = appendString(b, p.id)
		b = appendString(b, p.member)
		held := byte(0)
		if p.held {
			held = 1
		}
		b = append(b, held)
	}
	b = binary.AppendUvarint(b, uint64(len(ev.frames)))
	for _, f := range ev.frames {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// meshEventSize is a hint of a mesh event's encoded size.
func meshEventSize(k hub.Key, ev event) int {
	n := 40 + len(k.App) + len(k.Stream)
	for _, p := range ev.peers {
		n += 4 + len(p.id) + len(p.member)
	}
	for _, f := range ev.frames {
		n += 4 + len(f)
	}
	return n
}

func decodeMeshEvent(b []byte) (to uint64, k hub.Key, ev event, err error) {
	r := varbuf.New(b, errMalformed)
	to, k = r.Uvarint(), key(&r)
	ev.prev, ev.rev, ev.mesh = r.Uvarint(), r.Uvarint(), true
	ev.flags = readByte(&r)
	n := r.Uvarint()
	for i := uint64(0); i < n && r.Err == nil; i++ {
		p := meshPeer{id: r.Str(), member: r.Str()}
		p.held = readByte(&r) == 1
		ev.peers = append(ev.peers, p)
	}
	n = r.Uvarint()
	for i := uint64(0); i < n && r.Err == nil; i++ {
		ev.frames = append(ev.frames, append([]byte(nil), r.Bytes()...)) // NATS's buffer: the event may wait
	}
	if r.Err == nil && len(r.B) != 0 {
		r.Err = errMalformed
	}
	return to, k, ev, r.Err
}

// readByte reads one byte.
func readByte(r *varbuf.Reader) byte {
	if r.Err != nil {
		return 0
	}
	if len(r.B) == 0 {
		r.Fail()
		return 0
	}
	b := r.B[0]
	r.B = r.B[1:]
	return b
}
