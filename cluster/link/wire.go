package link

import (
	"encoding/binary"
	"errors"
)

// Message types the link itself sends. The owner's types (what its
// messages carry) are any other byte values.
const (
	TypeAck  byte = 6 // acknowledgement: received up to a sequence number
	TypeSync byte = 7 // everything before this sequence number was acknowledged already
)

// ErrMalformed: a message the link cannot read.
var ErrMalformed = errors.New("link: malformed message")

// Header starts a numbered message: its type, the sender's incarnation,
// the link's epoch and the message's sequence number. The body follows.
func Header(b []byte, typ byte, from string, epoch, seq uint64) []byte {
	b = append(b, typ)
	b = binary.AppendUvarint(b, uint64(len(from)))
	b = append(b, from...)
	b = binary.AppendUvarint(b, epoch)
	return binary.AppendUvarint(b, seq)
}

// Decode splits a numbered message (or a sync) into its header and body;
// from and body point into b.
func Decode(b []byte) (typ byte, from []byte, epoch, seq uint64, body []byte, err error) {
	if len(b) == 0 {
		return 0, nil, 0, 0, nil, ErrMalformed
	}
	r := reader{b: b[1:]}
	from, epoch, seq = r.bytes(), r.uvarint(), r.uvarint()
	return b[0], from, epoch, seq, r.b, r.err
}

// ackMsg: type, the acknowledging incarnation, epoch, the highest
// sequence number received in order, and 1 when a gap was seen (resend
// what follows at once).
func ackMsg(from string, epoch, seq uint64, gap bool) []byte {
	b := []byte{TypeAck}
	b = binary.AppendUvarint(b, uint64(len(from)))
	b = append(b, from...)
	b = binary.AppendUvarint(b, epoch)
	b = binary.AppendUvarint(b, seq)
	if gap {
		return append(b, 1)
	}
	return append(b, 0)
}

// DecodeAck reads an acknowledgement.
func DecodeAck(b []byte) (from string, epoch, seq uint64, gap bool, err error) {
	if len(b) == 0 || b[0] != TypeAck {
		return "", 0, 0, false, ErrMalformed
	}
	r := reader{b: b[1:]}
	from, epoch, seq = string(r.bytes()), r.uvarint(), r.uvarint()
	if r.err == nil && len(r.b) != 1 {
		r.err = ErrMalformed
	}
	return from, epoch, seq, r.err == nil && r.b[0] == 1, r.err
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
		r.err = ErrMalformed
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
		r.err = ErrMalformed
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}
