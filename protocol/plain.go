package protocol

// plain marks the bytes a JSON string holds as they are: printable ASCII
// other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainPrefix returns the index of the first byte of s at or after i that
// is not plain (or len(s)). It tests eight bytes at a time: decoding and
// re-encoding candidate and SDP strings is most of a relay's work.
func plainPrefix[T string | []byte](s T, i int) int {
	for i+8 <= len(s) {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if special(x) {
			break
		}
		i += 8
	}
	for i < len(s) && plain[s[i]] {
		i++
	}
	return i
}

// special reports whether any byte of x is not plain: at or above 0x80,
// below 0x20, a quote or a backslash. (Each test is exact about whether
// some byte matches once no byte is at or above 0x80.)
func special(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	below := (x - lo*0x20) &^ x & hi
	q := x ^ (lo * '"')
	quote := (q - lo) &^ q & hi
	b := x ^ (lo * '\\')
	backslash := (b - lo) &^ b & hi
	return (x&hi)|below|quote|backslash != 0
}
