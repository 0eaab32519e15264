package link

import (
	"encoding/binary"
	"errors"

	"github.com/duet-rtc/duet/internal/varbuf"
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
	r := varbuf.New(b[1:], ErrMalformed)
	from, epoch, seq = r.Bytes(), r.Uvarint(), r.Uvarint()
	return b[0], from, epoch, seq, r.B, r.Err
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
	r := varbuf.New(b[1:], ErrMalformed)
	from, epoch, seq = string(r.Bytes()), r.Uvarint(), r.Uvarint()
	if r.Err == nil && len(r.B) != 1 {
		r.Err = ErrMalformed
	}
	return from, epoch, seq, r.Err == nil && r.B[0] == 1, r.Err
}
