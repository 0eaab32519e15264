package varbuf

import (
	"encoding/binary"
	"errors"
	"testing"
)

var errBad = errors.New("bad")

func TestReader(t *testing.T) {
	b := binary.AppendUvarint(nil, 300)
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	b = append(b, 9)
	r := New(b, errBad)
	if v, s := r.Uvarint(), r.Str(); v != 300 || s != "abc" || r.Err != nil || len(r.B) != 1 || r.B[0] != 9 {
		t.Fatalf("got %d %q %v, left %v", v, s, r.Err, r.B)
	}
}

func TestFirstErrorSticks(t *testing.T) {
	// A length beyond the message, then more reads: the error stays, and
	// every later read is a zero value.
	r := New(append(binary.AppendUvarint(nil, 10), "abc"...), errBad)
	if s := r.Bytes(); s != nil || !errors.Is(r.Err, errBad) {
		t.Fatalf("got %q, %v", s, r.Err)
	}
	if v := r.Uvarint(); v != 0 || !errors.Is(r.Err, errBad) {
		t.Fatalf("after the error: %d, %v", v, r.Err)
	}
	r = New([]byte{0x80}, errBad) // a varint cut short
	if r.Uvarint(); !errors.Is(r.Err, errBad) {
		t.Fatalf("a cut varint: %v", r.Err)
	}
}
