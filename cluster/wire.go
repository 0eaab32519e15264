package cluster

import (
	"encoding/binary"
	"errors"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// Messages between nodes travel on core NATS subjects in a small binary
// form: one type byte, then uvarint-prefixed fields. Relayed frames are
// the hot path, so they carry the client's frame as is, after the header.
const (
	msgFrame byte = 1 // a relayed frame for a local member
	msgEvent byte = 2 // room transition messages for a local member
	msgProbe byte = 3 // request: is this local member alive? reply 1 or 0
	msgKill  byte = 4 // drop this local member's socket
)

var errMalformed = errors.New("cluster: malformed message")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// frameMsg: type, to, from, app, stream, frame.
func frameMsg(to uint64, from string, k hub.Key, frame []byte) []byte {
	b := make([]byte, 0, 16+len(from)+len(k.App)+len(k.Stream)+len(frame))
	b = append(b, msgFrame)
	b = binary.AppendUvarint(b, to)
	b = appendString(b, from)
	b = appendString(b, k.App)
	b = appendString(b, k.Stream)
	return append(b, frame...)
}

// event is what a member's node needs to apply one room transition to it:
// the messages to send, the membership revision before and after (so that
// transitions coming from different nodes are applied in order), and the
// member's partner afterwards.
type event struct {
	prev, rev uint64
	partner   string
	reason    hub.Reason // why the partner went, for a stop (0: not said)
	kinds     []room.Kind
}

// eventMsg: type, to, app, stream, prev, rev, partner, reason, kinds.
func eventMsg(to uint64, k hub.Key, ev event) []byte {
	b := make([]byte, 0, 40+len(k.App)+len(k.Stream)+len(ev.partner)+len(ev.kinds))
	b = append(b, msgEvent)
	b = binary.AppendUvarint(b, to)
	b = appendString(b, k.App)
	b = appendString(b, k.Stream)
	b = binary.AppendUvarint(b, ev.prev)
	b = binary.AppendUvarint(b, ev.rev)
	b = appendString(b, ev.partner)
	b = append(b, byte(ev.reason))
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
	r := reader{b: b[1:]}
	to, from, k = r.uvarint(), r.str(), r.key()
	return to, from, k, r.b, r.err
}

func decodeEvent(b []byte) (to uint64, k hub.Key, ev event, err error) {
	r := reader{b: b[1:]}
	to, k = r.uvarint(), r.key()
	ev.prev, ev.rev, ev.partner = r.uvarint(), r.uvarint(), r.str()
	if r.err == nil && len(r.b) == 0 {
		return 0, k, ev, errMalformed
	}
	if r.err == nil {
		ev.reason, r.b = hub.Reason(r.b[0]), r.b[1:]
		if ev.reason > hub.ReasonNodeFailure {
			return 0, k, ev, errMalformed
		}
	}
	for _, kd := range r.b {
		if kd < byte(room.Joined) || kd > byte(room.Stop) {
			return 0, k, ev, errMalformed
		}
		ev.kinds = append(ev.kinds, room.Kind(kd))
	}
	return to, k, ev, r.err
}

func decodeCtl(b []byte) (to uint64, reason string, err error) {
	r := reader{b: b[1:]}
	to = r.uvarint()
	return to, string(r.b), r.err
}
