package ws

import (
	"encoding/binary"
	"unicode/utf8"
)

// parser turns a client's bytes into messages and control frames. It does
// no I/O: the connection reads into a buffer it borrows while data flows
// and hands the bytes to next. A frame that is all in the buffer is
// unmasked in place and returned without a copy. A frame that fits a
// buffer but has not all arrived stays in it until the rest comes; when the
// connection goes idle those few bytes are copied out (see Conn.park), so
// an idle socket holds no buffer. Only a frame too large for a buffer is
// streamed into a slice of its own, which grows as its bytes arrive — never
// to what its header announces before they do — and is let go once the
// message is handled.
type parser struct {
	max int // largest message accepted

	// A frame being streamed (larger than a buffer).
	stream bool
	skip   bool // refused as too large: its bytes are discarded
	fin    bool
	op     Opcode
	mpos   uint8 // masking key offset of the next payload byte
	mask   [4]byte
	remain int64 // payload bytes of the frame still to come

	msg   []byte // message being assembled from fragments or a streamed frame
	msgOp Opcode // its opcode, 0 when none
}

// next parses one event from b, the bytes read and not yet consumed; room
// is the size of the buffer b lives in. It returns how many bytes it
// consumed and, when ok, a message or control frame (op, payload). payload
// is valid until the next call. With ok false and n == 0, b holds only the
// start of a frame and more bytes are needed. An error is a *CloseError;
// after ErrTooBig the parser skips the refused frame and may be used on,
// after any other it must not.
func (p *parser) next(b []byte, room int) (op Opcode, payload []byte, n int, ok bool, err error) {
	if p.stream {
		return p.streamed(b)
	}
	if len(b) < 2 {
		return 0, nil, 0, false, nil
	}
	b0, b1 := b[0], b[1]
	fin, op := b0&0x80 != 0, Opcode(b0&0x0F)
	if b0&0x70 != 0 || b1&0x80 == 0 { // reserved bits, or an unmasked client frame
		return 0, nil, 0, false, ErrProtocol
	}
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return 0, nil, 0, false, ErrProtocol
	}
	// Everything the first two bytes can tell is checked before the rest
	// of the header arrives.
	if op.IsControl() {
		if !fin || b1&0x7F > 125 {
			return 0, nil, 0, false, ErrProtocol
		}
	} else if op == OpContinuation && p.msgOp == 0 || op != OpContinuation && p.msgOp != 0 {
		return 0, nil, 0, false, ErrProtocol
	}
	hl := 6
	switch b1 & 0x7F {
	case 126:
		hl = 8
	case 127:
		hl = 14
	}
	if len(b) < hl-4 { // a bad length is refused before the masking key arrives
		return 0, nil, 0, false, nil
	}
	var length int64
	switch hl {
	case 6:
		length = int64(b1 & 0x7F)
	case 8:
		length = int64(binary.BigEndian.Uint16(b[2:]))
	default:
		u := binary.BigEndian.Uint64(b[2:])
		if u >= 1<<63 { // RFC 6455 5.2: the most significant bit must be 0
			return 0, nil, 0, false, ErrProtocol
		}
		length = int64(u)
	}
	if len(b) < hl {
		return 0, nil, 0, false, nil
	}
	if !op.IsControl() && int64(len(p.msg))+length > int64(p.max) {
		// Skip the frame's payload, so that the frames after it (the
		// peer's answer to our close) can still be read.
		p.msg, p.msgOp = nil, 0
		p.stream, p.skip, p.remain = true, true, length
		return 0, nil, hl, false, ErrTooBig
	}
	var mask [4]byte
	copy(mask[:], b[hl-4:hl])
	if total := int64(hl) + length; int64(len(b)) >= total {
		pl := b[hl:total]
		unmask(pl, mask, 0)
		op, payload, ok, err = p.frame(fin, op, pl)
		return op, payload, int(total), ok, err
	} else if total <= int64(room) {
		return 0, nil, 0, false, nil // wait for the rest in the buffer
	}
	// Too large for a buffer: stream the payload into msg as it arrives.
	p.stream, p.fin, p.op, p.mask, p.mpos, p.remain = true, fin, op, mask, 0, length
	if p.msgOp == 0 {
		p.msgOp = op
	}
	return 0, nil, hl, false, nil
}

// frame handles one whole frame's unmasked payload.
func (p *parser) frame(fin bool, op Opcode, pl []byte) (Opcode, []byte, bool, error) {
	switch {
	case op.IsControl():
		return op, pl, true, nil
	case fin && p.msgOp == 0:
		if op == OpText && !utf8.Valid(pl) {
			return 0, nil, false, ErrInvalidUTF8
		}
		return op, pl, true, nil
	}
	if p.msgOp == 0 {
		p.msgOp = op
	}
	p.msg = append(p.msg, pl...)
	if !fin {
		return 0, nil, false, nil
	}
	return p.complete()
}

// complete returns the assembled message.
func (p *parser) complete() (Opcode, []byte, bool, error) {
	op, m := p.msgOp, p.msg
	p.msgOp = 0
	p.msg = m[:0]
	if op == OpText && !utf8.Valid(m) {
		return 0, nil, false, ErrInvalidUTF8
	}
	return op, m, true, nil
}

// streamed takes the next bytes of a streamed frame.
func (p *parser) streamed(b []byte) (Opcode, []byte, int, bool, error) {
	k := int(min(int64(len(b)), p.remain))
	if k == 0 {
		return 0, nil, 0, false, nil
	}
	p.remain -= int64(k)
	if !p.skip {
		if need := len(p.msg) + k; need > cap(p.msg) {
			// Grow with what arrived, at most to the frame's end.
			c := min(max(2*cap(p.msg), need, 64), len(p.msg)+k+int(p.remain))
			m := make([]byte, len(p.msg), c)
			copy(m, p.msg)
			p.msg = m
		}
		start := len(p.msg)
		p.msg = append(p.msg, b[:k]...)
		unmask(p.msg[start:], p.mask, int(p.mpos))
		p.mpos = uint8((int(p.mpos) + k) & 3)
	}
	if p.remain > 0 {
		return 0, nil, k, false, nil
	}
	p.stream = false
	if p.skip {
		p.skip = false
		return 0, nil, k, false, nil
	}
	if !p.fin {
		return 0, nil, k, false, nil
	}
	op, m, ok, err := p.complete()
	return op, m, k, ok, err
}

// idle reports whether the parser holds no part of a message.
func (p *parser) idle() bool { return !p.stream && p.msgOp == 0 }

// shrink lets go of the message buffer once a message is handled, unless
// it is small and the socket busy (keep is true).
func (p *parser) shrink(keep bool) {
	if len(p.msg) == 0 && (!keep || cap(p.msg) > 4<<10) {
		p.msg = nil
	}
}

// unmask XORs p with the masking key starting at key offset pos, eight
// bytes at a time where it can.
func unmask(p []byte, key [4]byte, pos int) {
	if pos&3 != 0 {
		key = [4]byte{key[pos&3], key[(pos+1)&3], key[(pos+2)&3], key[(pos+3)&3]}
	}
	if len(p) >= 8 {
		k := uint64(binary.LittleEndian.Uint32(key[:]))
		k |= k << 32
		for len(p) >= 8 {
			binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)^k)
			p = p[8:]
		}
	}
	for i := range p {
		p[i] ^= key[i&3]
	}
}
