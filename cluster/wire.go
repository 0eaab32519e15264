package cluster

import (
	"encoding/binary"
	"errors"

	"github.com/duet-rtc/duet/cluster/link"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/varbuf"
	"github.com/duet-rtc/duet/room"
)

// Messages between nodes travel on core NATS subjects in a small binary
// form: one type byte, then uvarint-prefixed fields. Relayed frames are
// the hot path, so they carry the client's frame as is, after the header.
//
// Frames and events travel on a link from one incarnation to another (see
// link.go): after the type byte comes the link header (the sender's
// incarnation, the link's epoch and the message's sequence number), then
// the body.
const (
	msgFrame byte = 1             // a relayed frame for a local member
	msgEvent byte = 2             // room transition messages for a local member
	msgProbe byte = 3             // request: is this local member alive? reply 1 or 0
	msgKill  byte = 4             // drop this local member's socket
	msgPing  byte = 5             // request: is this incarnation alive? reply 1
	msgAck        = link.TypeAck  // link acknowledgement (package link)
	msgSync       = link.TypeSync // link: everything before this sequence number was acknowledged already
	msgBack  byte = 8             // a relayed frame sent back to its sender's node: its partner's seat is held (see hold.go)
)

var errMalformed = errors.New("cluster: malformed message")

// maxKind is the last room.Kind an event carries: the room's messages and
// the resume notices (never a prelude or a kept frame).
const maxKind = room.Reconnected

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// frameBody appends a frame message's body to b: to, from, app, stream,
// frame.
func frameBody(b []byte, to uint64, from string, k hub.Key, frame hub.Loan) []byte {
	b = binary.AppendUvarint(b, to)
	b = appendString(b, from)
	b = appendString(b, k.App)
	b = appendString(b, k.Stream)
	return frame.AppendTo(b)
}

// event is what a member's node needs to apply one room transition to it:
// the messages to send, the membership revision before and after (so that
// transitions coming from different nodes are applied in order), and the
// member's partner afterwards: its id, its session, and the deadline of
// its seat when it is held (its socket lost).
type event struct {
	prev, rev uint64
	partner   string
	reason    hub.Reason // why the partner left, for a stop
	flags     byte       // evResumed, evGone
	held      int64      // the partner's seat is held until (unix ms); 0: its socket is live
	session   string     // the partner's session
	kinds     []room.Kind

	// A mesh room's transition (meshwire.go): the member's messages,
	// encoded, and the room's members afterwards.
	mesh   bool
	frames [][]byte
	peers  []meshPeer
}

// Event flags.
const (
	// evResumed: the partner is a new socket that took back the seat of
	// the previous one: what was kept for that seat goes to it.
	evResumed byte = 1
	// evGone: the member (partner names it) no longer holds its seat: a
	// new socket took it back. Its node drops the seat without a word
	// (closing a half-open socket) and stops watching a hold it wrote.
	evGone byte = 2
)

// eventBody appends an event message's body to b: to, app, stream, prev,
// rev, partner, reason, flags, held, session, kinds.
func eventBody(b []byte, to uint64, k hub.Key, ev event) []byte {
	b = binary.AppendUvarint(b, to)
	b = appendString(b, k.App)
	b = appendString(b, k.Stream)
	b = binary.AppendUvarint(b, ev.prev)
	b = binary.AppendUvarint(b, ev.rev)
	b = appendString(b, ev.partner)
	b = append(b, byte(ev.reason), ev.flags)
	b = binary.AppendUvarint(b, uint64(ev.held))
	b = appendString(b, ev.session)
	for _, kd := range ev.kinds {
		b = append(b, byte(kd))
	}
	return b
}

// ctlMsg: type, to, then for a kill the reason.
func ctlMsg(typ byte, to uint64, reason string) []byte {
	b := append([]byte{typ}, binary.AppendUvarint(nil, to)...)
	return append(b, reason...)
}

// key reads a room key.
func key(r *varbuf.Reader) hub.Key {
	return hub.Key{App: r.Str(), Stream: r.Str()}
}

func decodeFrame(b []byte) (to uint64, from string, k hub.Key, frame []byte, err error) {
	r := varbuf.New(b, errMalformed)
	to, from, k = r.Uvarint(), r.Str(), key(&r)
	return to, from, k, r.B, r.Err
}

func decodeEvent(b []byte) (to uint64, k hub.Key, ev event, err error) {
	r := varbuf.New(b, errMalformed)
	to, k = r.Uvarint(), key(&r)
	ev.prev, ev.rev, ev.partner = r.Uvarint(), r.Uvarint(), r.Str()
	if r.Err == nil && len(r.B) < 2 {
		r.Err = errMalformed
	}
	if r.Err != nil {
		return 0, k, ev, r.Err
	}
	ev.reason, ev.flags, r.B = hub.Reason(r.B[0]), r.B[1], r.B[2:]
	ev.held, ev.session = int64(r.Uvarint()), r.Str()
	if r.Err != nil {
		return 0, k, ev, r.Err
	}
	for _, kd := range r.B {
		if kd < byte(room.Joined) || kd > byte(maxKind) {
			return 0, k, ev, errMalformed
		}
		ev.kinds = append(ev.kinds, room.Kind(kd))
	}
	return to, k, ev, nil
}

func decodeCtl(b []byte) (to uint64, reason string, err error) {
	r := varbuf.New(b[1:], errMalformed)
	to = r.Uvarint()
	return to, string(r.B), r.Err
}
