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
