package hub

import "bytes"

// Loan is a frame lent to a backend for one call (Rooms.Relay). Its bytes
// are the transport's pooled encode buffer, or a message it received:
// they are overwritten once the call returns. A Loan has no accessor that
// hands out the slice, so a backend that keeps a frame — for a held seat,
// an outbox, a link's resend buffer — does so visibly, with Clone or
// AppendTo. (A duetpoison build overwrites the buffer right after the
// call, so a slice kept by other means fails the tests.)
type Loan struct{ b []byte }

// Lend lends b for the length of one call.
func Lend(b []byte) Loan { return Loan{b} }

// Len is the frame's length in bytes.
func (l Loan) Len() int { return len(l.b) }

// Clone returns a copy of the frame that the caller owns.
func (l Loan) Clone() []byte { return bytes.Clone(l.b) }

// AppendTo appends the frame to dst.
func (l Loan) AppendTo(dst []byte) []byte { return append(dst, l.b...) }

// SendTo queues the frame for c, which copies it (Conn.Send).
func (l Loan) SendTo(c Conn) bool { return c.Send(l.b) }
