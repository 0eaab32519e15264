// Package varbuf reads the cluster's binary messages: unsigned varints and
// length-prefixed byte strings, keeping the first error so that a decoder
// reads every field and checks once.
package varbuf

import "encoding/binary"

// Reader reads from B. After the first error every read returns a zero
// value and B is left where the error was found.
type Reader struct {
	B   []byte // what is left to read
	Err error  // the first error, or nil

	malformed error
}

// New reads b; a short or bad field sets malformed as the error.
func New(b []byte, malformed error) Reader {
	return Reader{B: b, malformed: malformed}
}

// Fail sets the error, unless one is already set.
func (r *Reader) Fail() {
	if r.Err == nil {
		r.Err = r.malformed
	}
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Bytes reads a length-prefixed byte string. It aliases the message.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.Err != nil {
		return nil
	}
	if n > uint64(len(r.B)) {
		r.Fail()
		return nil
	}
	s := r.B[:n]
	r.B = r.B[n:]
	return s
}

// Str reads a length-prefixed string (a copy).
func (r *Reader) Str() string { return string(r.Bytes()) }
