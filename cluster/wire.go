package cluster

import (
	"encoding/binary"
	"errors"

	"github.com/duet-rtc/duet/cluster/link"
	"github.com/duet-rtc/duet/hub"
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

// reader decodes a message; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errMalformed
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errMalformed
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) key() hub.Key {
	return hub.Key{App: r.str(), Stream: r.str()}
}

func decodeFrame(b []byte) (to uint64, from string, k hub.Key, frame []byte, err error) {
	r := reader{b: b}
	to, from, k = r.uvarint(), r.str(), r.key()
	return to, from, k, r.b, r.err
}

func decodeEvent(b []byte) (to uint64, k hub.Key, ev event, err error) {
	r := reader{b: b}
	to, k = r.uvarint(), r.key()
	ev.prev, ev.rev, ev.partner = r.uvarint(), r.uvarint(), r.str()
	if r.err == nil && len(r.b) < 2 {
		r.err = errMalformed
	}
	if r.err != nil {
		return 0, k, ev, r.err
	}
	ev.reason, ev.flags, r.b = hub.Reason(r.b[0]), r.b[1], r.b[2:]
	ev.held, ev.session = int64(r.uvarint()), r.str()
	if r.err != nil {
		return 0, k, ev, r.err
	}
	for _, kd := range r.b {
		if kd < byte(room.Joined) || kd > byte(maxKind) {
			return 0, k, ev, errMalformed
		}
		ev.kinds = append(ev.kinds, room.Kind(kd))
	}
	return to, k, ev, nil
}

func decodeCtl(b []byte) (to uint64, reason string, err error) {
	r := reader{b: b[1:]}
	to = r.uvarint()
	return to, string(r.b), r.err
}
