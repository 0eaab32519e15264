// Package ws is the server side of the WebSocket protocol (RFC 6455) as
// duet needs it: the opening handshake on a net/http request, and Conn,
// which owns one socket's life — reading, a bounded send queue and its
// writer, ping/pong and idle detection, the close handshake — while its
// owner (a Handler) sees only messages and, once, why the socket ended.
// No extensions are negotiated.
//
// An idle Conn costs no goroutine and no buffer: on Linux, a plain TCP
// socket with nothing to read is parked in an epoll set of the Engine's
// own and a reader goroutine starts only when bytes arrive (poll_linux.go).
// A TLS socket parks the same way once a record layer that can say what
// it holds (a Layer: package tlsrec) has taken it over from crypto/tls.
// Elsewhere, and for a crypto/tls connection (whose decrypted bytes no
// readiness event announces), each socket keeps a reader goroutine that
// waits in a one-byte read, holding no buffer.
package ws

import (
	"errors"
	"unicode/utf8"
)

// Opcode is a frame's opcode.
type Opcode byte

// Opcodes of RFC 6455 section 5.2.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode.
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// Close codes of RFC 6455 section 7.4.1.
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001
	CloseProtocolError  = 1002
	CloseUnsupported    = 1003
	CloseNoStatus       = 1005
	CloseAbnormal       = 1006
	CloseInvalidPayload = 1007
	ClosePolicy         = 1008
	CloseTooBig         = 1009
	CloseInternal       = 1011
	CloseTryAgainLater  = 1013
)

// CloseError is a violation of the protocol by the peer, with the close
// code to answer it with.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return "websocket: " + e.Reason }

// Errors the reader returns; each is a *CloseError.
var (
	ErrProtocol    = &CloseError{CloseProtocolError, "protocol error"}
	ErrTooBig      = &CloseError{CloseTooBig, "message too large"}
	ErrInvalidUTF8 = &CloseError{CloseInvalidPayload, "invalid UTF-8 in text message"}
	ErrCloseReason = &CloseError{CloseInvalidPayload, "invalid UTF-8 in close reason"}
	ErrBadClose    = &CloseError{CloseProtocolError, "invalid close frame"}
)

// CloseCode returns the close code that answers err, or 0 when err is not
// a protocol violation (an I/O error, for instance).
func CloseCode(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// AppendHeader appends the header of an unmasked server frame with fin set.
func AppendHeader(dst []byte, op Opcode, length int) []byte {
	b0 := 0x80 | byte(op)
	switch {
	case length < 126:
		return append(dst, b0, byte(length))
	case length <= 0xFFFF:
		return append(dst, b0, 126, byte(length>>8), byte(length))
	default:
		n := uint64(length)
		return append(dst, b0, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// ClosePayload builds a close frame's payload. Control frames carry at most
// 125 bytes, so a long reason is cut (at a UTF-8 boundary).
func ClosePayload(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
		for len(reason) > 0 && reason[len(reason)-1]&0xC0 == 0x80 {
			reason = reason[:len(reason)-1]
		}
		if len(reason) > 0 && reason[len(reason)-1] >= 0xC0 {
			reason = reason[:len(reason)-1]
		}
	}
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

// ParseClose reads a close frame's payload; an empty payload is 1005. A
// one-byte payload or a code that may not be sent is ErrBadClose (1002), a
// reason that is not UTF-8 ErrCloseReason (1007).
func ParseClose(p []byte) (code int, reason string, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", ErrBadClose
	}
	code = int(p[0])<<8 | int(p[1])
	if !validCloseCode(code) {
		return 0, "", ErrBadClose
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", ErrCloseReason
	}
	return code, string(p[2:]), nil
}

func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
