package ws

import (
	"encoding/binary"
	"io"
	"sync"
	"unicode/utf8"
)

// bufSize is the read buffer a connection borrows while data flows.
const bufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Reader reads client frames from a connection and returns whole messages
// and control frames. While no bytes are waiting it holds no buffer: it
// blocks on a read into a few inline bytes and borrows a pooled buffer only
// once data arrives, giving it back when everything read is consumed. An
// idle socket so costs its goroutine's small stack and nothing more.
type Reader struct {
	src   io.Reader
	max   int
	small [16]byte
	buf   *[]byte // borrowed from bufPool while data flows
	r, w  int     // unread bytes are (*buf)[r:w]
	early []byte  // bytes read before the reader took over
	msg   []byte  // fragments of a message being assembled
	msgOp Opcode  // opcode of that message, 0 when none
	skip  int64   // payload bytes of a refused frame, for SkipFrame

	// Woken, when set, is called each time a read that found nothing
	// buffered returns bytes, before they are parsed: the caller can
	// cancel a read deadline meant only for waiting.
	Woken func()
}

// NewReader reads from src, starting with early (bytes already read from
// it). Messages longer than max bytes fail with ErrTooBig.
func NewReader(src io.Reader, early []byte, max int) *Reader {
	return &Reader{src: src, max: max, early: early}
}

// Next returns the next complete data message (text or binary) or control
// frame. The payload is valid until the next call. Protocol violations are
// *CloseError values carrying the code to close with.
func (r *Reader) Next() (Opcode, []byte, error) {
	for {
		if r.buf != nil && r.r == r.w && len(r.msg) == 0 {
			r.release()
		}
		fin, op, length, mask, err := r.header()
		if err != nil {
			return 0, nil, err
		}
		if op.IsControl() {
			if !fin || length > 125 {
				return 0, nil, ErrProtocol
			}
		} else {
			switch {
			case op == OpContinuation && r.msgOp == 0, op != OpContinuation && r.msgOp != 0:
				return 0, nil, ErrProtocol
			case int64(len(r.msg))+length > int64(r.max):
				r.skip = length
				return 0, nil, ErrTooBig
			}
		}
		p, err := r.payload(int(length))
		if err != nil {
			return 0, nil, err
		}
		unmask(p, mask)
		switch {
		case op.IsControl():
			return op, p, nil
		case fin && r.msgOp == 0:
			if op == OpText && !utf8.Valid(p) {
				return 0, nil, ErrInvalidUTF8
			}
			return op, p, nil
		}
		if r.msgOp == 0 {
			r.msgOp = op
		}
		r.msg = append(r.msg, p...)
		if fin {
			op, p := r.msgOp, r.msg
			r.msgOp, r.msg = 0, nil
			if op == OpText && !utf8.Valid(p) {
				return 0, nil, ErrInvalidUTF8
			}
			return op, p, nil
		}
	}
}

// Idle reports whether the next Next will block in a read holding no
// buffer: every byte read so far is consumed.
func (r *Reader) Idle() bool {
	return (r.buf == nil || r.r == r.w) && len(r.msg) == 0 && len(r.early) == 0
}

// header reads and checks one frame header.
func (r *Reader) header() (fin bool, op Opcode, length int64, mask [4]byte, err error) {
	if err = r.ensure(2); err != nil {
		return
	}
	b := *r.buf
	b0, b1 := b[r.r], b[r.r+1]
	fin, op = b0&0x80 != 0, Opcode(b0&0x0F)
	if b0&0x70 != 0 || b1&0x80 == 0 { // reserved bits, or an unmasked client frame
		err = ErrProtocol
		return
	}
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		err = ErrProtocol
		return
	}
	ext := 0
	switch b1 & 0x7F {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	if err = r.ensure(2 + ext + 4); err != nil {
		return
	}
	b = *r.buf
	h := b[r.r : r.r+2+ext+4]
	switch ext {
	case 0:
		length = int64(b1 & 0x7F)
	case 2:
		length = int64(binary.BigEndian.Uint16(h[2:]))
	case 8:
		u := binary.BigEndian.Uint64(h[2:])
		if u > 1<<62 {
			err = ErrProtocol
			return
		}
		length = int64(u)
	}
	copy(mask[:], h[2+ext:])
	r.r += 2 + ext + 4
	return
}

// ensure makes at least n (≤ bufSize) unread bytes available.
func (r *Reader) ensure(n int) error {
	for r.buf == nil || r.w-r.r < n {
		if r.buf == nil {
			if err := r.borrow(); err != nil {
				return err
			}
			continue
		}
		b := *r.buf
		if len(b)-r.r < n {
			r.w = copy(b, b[r.r:r.w])
			r.r = 0
		}
		k, err := r.src.Read(b[r.w:])
		r.w += k
		if err != nil && r.w-r.r < n {
			return err
		}
	}
	return nil
}

// borrow blocks until bytes arrive, then takes a buffer for them.
func (r *Reader) borrow() error {
	var first []byte
	if len(r.early) > 0 {
		first, r.early = r.early, nil
	} else {
		k, err := r.src.Read(r.small[:])
		if k == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
		first = r.small[:k]
		if r.Woken != nil {
			r.Woken()
		}
	}
	r.buf = bufPool.Get().(*[]byte)
	b := *r.buf
	if len(first) > len(b) { // early bytes beyond one buffer: keep them for later
		r.early = first[len(b):]
		first = first[:len(b)]
	}
	r.r, r.w = 0, copy(b, first)
	return nil
}

// payload returns the next n bytes. Short payloads stay in the buffer;
// long ones get their own slice.
func (r *Reader) payload(n int) ([]byte, error) {
	if n <= bufSize {
		if err := r.ensure(n); err != nil {
			return nil, noEOF(err)
		}
		p := (*r.buf)[r.r : r.r+n]
		r.r += n
		return p, nil
	}
	p := make([]byte, n)
	k := copy(p, (*r.buf)[r.r:r.w])
	r.r += k
	if _, err := io.ReadFull(r.src, p[k:]); err != nil {
		return nil, noEOF(err)
	}
	return p, nil
}

// SkipFrame discards the payload of the frame Next refused with ErrTooBig,
// so that the frames after it (the peer's close) can still be read.
func (r *Reader) SkipFrame() error {
	if r.buf != nil {
		n := int(min(r.skip, int64(r.w-r.r)))
		r.r += n
		r.skip -= int64(n)
	}
	r.msg, r.msgOp = nil, 0
	_, err := io.CopyN(io.Discard, r.src, r.skip)
	r.skip = 0
	return err
}

// release gives the buffer back; it must hold no unread bytes.
func (r *Reader) release() {
	bufPool.Put(r.buf)
	r.buf, r.r, r.w = nil, 0, 0
}

// Close gives back a borrowed buffer. The Reader must not be used after.
func (r *Reader) Close() {
	if r.buf != nil {
		r.release()
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// unmask XORs p with the masking key, eight bytes at a time where it can.
func unmask(p []byte, key [4]byte) {
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
