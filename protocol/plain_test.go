package protocol

import "testing"

// TestPlainPrefix checks the eight-byte scan against the byte table at
// every position of strings with one special byte.
func TestPlainPrefix(t *testing.T) {
	for _, c := range []byte{'"', '\\', 0, 0x1f, 0x7f, 0x80, 0xff, 'a', ' '} {
		for n := 0; n < 20; n++ {
			for at := 0; at < n; at++ {
				b := make([]byte, n)
				for i := range b {
					b[i] = 'x'
				}
				b[at] = c
				want := 0
				for want < n && plain[b[want]] {
					want++
				}
				if got := plainPrefix(b, 0); got != want {
					t.Errorf("byte %#x at %d of %d: got %d, want %d", c, at, n, got, want)
				}
				if got := plainPrefix(string(b), 0); got != want {
					t.Errorf("string: byte %#x at %d of %d: got %d, want %d", c, at, n, got, want)
				}
			}
		}
	}
}

// TestDecodeBorrowed checks that a borrowed decode reads the same message
// as a copying one, that its strings point into the frame, and that Own
// detaches them.
func TestDecodeBorrowed(t *testing.T) {
	frame := []byte(`{"command":"takeCandidate","streamId":"room1","label":0,"id":"0","candidate":"candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host"}`)
	var copied, borrowed Message
	if err := DecodeInto(frame, &copied); err != nil {
		t.Fatal(err)
	}
	if err := DecodeBorrowed(frame, &borrowed); err != nil {
		t.Fatal(err)
	}
	same := func(a, b Message) bool {
		return a.Command == b.Command && a.StreamID == b.StreamID && a.Label == b.Label && a.ID == b.ID && a.Candidate == b.Candidate
	}
	if !same(borrowed, copied) {
		t.Fatalf("borrowed %+v, copied %+v", borrowed, copied)
	}
	keep := borrowed
	keep.Own()
	for i := range frame { // the read buffer is reused
		frame[i] = 'x'
	}
	if borrowed.StreamID == copied.StreamID {
		t.Error("borrowed streamId does not point into the frame")
	}
	if !same(keep, copied) {
		t.Errorf("after Own and a reused frame: %+v, want %+v", keep, copied)
	}
}
