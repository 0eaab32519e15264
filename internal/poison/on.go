//go:build duetpoison

package poison

// Enabled reports whether this build poisons lent buffers.
const Enabled = true

// Fill overwrites b with Byte.
func Fill(b []byte) {
	for i := range b {
		b[i] = Byte
	}
}
