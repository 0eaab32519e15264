//go:build unix

package tlsrec

import "syscall"

// writeNow writes b to the socket fd once, without waiting for room: an
// alert that does not fit is not worth a blocked writer.
func writeNow(fd uintptr, b []byte) {
	syscall.Write(int(fd), b)
}
