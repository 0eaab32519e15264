package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// frame builds a masked client frame.
func frame(fin bool, op Opcode, payload []byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	out = append(out, key[:]...)
	start := len(out)
	out = append(out, payload...)
	for i := range payload {
		out[start+i] ^= key[i&3]
	}
	return out
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

type event struct {
	op Opcode
	p  string
}

// feed runs p over in as Conn.run does: reads of at most chunk bytes into a
// buffer of room bytes, every whole frame handled, a partial one kept at
// the buffer's front. It returns the events and the error that ended them
// (nil when the input ran out).
func feed(p *parser, in []byte, chunk, room int) ([]event, error) {
	buf := make([]byte, room)
	var out []event
	r, w := 0, 0
	for {
		for {
			op, pl, n, ok, err := p.next(buf[r:w], room)
			r += n
			if err != nil {
				return out, err
			}
			if ok {
				out = append(out, event{op, string(pl)})
				p.shrink(true)
				continue
			}
			if n == 0 {
				break
			}
		}
		w, r = copy(buf, buf[r:w]), 0
		if len(in) == 0 {
			return out, nil
		}
		k := min(chunk, len(in), room-w)
		if k == 0 {
			panic("feed: a partial frame fills the buffer")
		}
		w += copy(buf[w:], in[:k])
		in = in[k:]
	}
}

func TestParser(t *testing.T) {
	big := strings.Repeat("s", 70000) // 64-bit length, streamed past the buffer
	mid := strings.Repeat("m", 300)   // 16-bit length
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []event
		wantErr error
	}{
		{"text", frame(true, OpText, []byte(`{"command":"ping"}`)), 1 << 20, []event{{OpText, `{"command":"ping"}`}}, nil},
		{"lengths", cat(frame(true, OpText, []byte(mid)), frame(true, OpBinary, []byte(big)), frame(true, OpText, nil)), 1 << 20,
			[]event{{OpText, mid}, {OpBinary, big}, {OpText, ""}}, nil},
		{"fragments with a ping between", cat(frame(false, OpText, []byte("he")), frame(true, OpPing, []byte("p")),
			frame(false, OpContinuation, []byte("ll")), frame(true, OpContinuation, []byte("o"))), 1 << 20,
			[]event{{OpPing, "p"}, {OpText, "hello"}}, nil},
		{"a streamed fragment", cat(frame(false, OpText, []byte(big)), frame(true, OpContinuation, []byte("!"))), 1 << 20,
			[]event{{OpText, big + "!"}}, nil},
		{"UTF-8 split across fragments", cat(frame(false, OpText, []byte("\xc3")), frame(true, OpContinuation, []byte("\xbc"))), 100,
			[]event{{OpText, "ü"}}, nil},
		{"close frame", frame(true, OpClose, ClosePayload(1000, "bye")), 100, []event{{OpClose, "\x03\xe8bye"}}, nil},
		{"unmasked", []byte{0x81, 0x01, 'x'}, 100, nil, ErrProtocol},
		{"reserved bit", func() []byte { f := frame(true, OpText, []byte("x")); f[0] |= 0x40; return f }(), 100, nil, ErrProtocol},
		{"unknown opcode", frame(true, Opcode(3), []byte("x")), 100, nil, ErrProtocol},
		{"fragmented control", frame(false, OpPing, nil), 100, nil, ErrProtocol},
		{"long control", frame(true, OpPing, make([]byte, 126)), 1000, nil, ErrProtocol},
		{"continuation first", frame(true, OpContinuation, []byte("x")), 100, nil, ErrProtocol},
		{"new message inside a fragmented one", cat(frame(false, OpText, []byte("a")), frame(true, OpText, []byte("b"))), 100, nil, ErrProtocol},
		{"too big at once", frame(true, OpText, make([]byte, 101)), 100, nil, ErrTooBig},
		{"too big in fragments", cat(frame(false, OpText, make([]byte, 60)), frame(true, OpContinuation, make([]byte, 41))), 100, nil, ErrTooBig},
		{"exactly the limit", frame(true, OpText, bytes.Repeat([]byte("a"), 100)), 100, []event{{OpText, strings.Repeat("a", 100)}}, nil},
		{"invalid UTF-8", frame(true, OpText, []byte("\xff")), 100, nil, ErrInvalidUTF8},
		{"invalid UTF-8, streamed", frame(true, OpText, append([]byte(big), 0xff)), 1 << 20, nil, ErrInvalidUTF8},
		{"a length with the top bit set", []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 100, nil, ErrProtocol},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 7, 4096, 1 << 20} {
			p := &parser{max: tt.max}
			out, err := feed(p, tt.in, chunk, bufSize)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s, reads of %d: err = %v, want %v (got %d events)", tt.name, chunk, err, tt.wantErr, len(out))
			}
			if len(out) != len(tt.want) {
				t.Fatalf("%s, reads of %d: %d events, want %d", tt.name, chunk, len(out), len(tt.want))
			}
			for i := range out {
				if out[i] != tt.want[i] {
					t.Fatalf("%s, reads of %d: event %d = %v %.40q, want %v %.40q", tt.name, chunk, i, out[i].op, out[i].p, tt.want[i].op, tt.want[i].p)
				}
			}
		}
	}
}

// TestParserTooBigThenClose: after refusing a message as too large, the
// parser skips its payload and reads the peer's close frame behind it.
func TestParserTooBigThenClose(t *testing.T) {
	for _, size := range []int{200, 70000} {
		in := cat(frame(true, OpText, make([]byte, size)), frame(true, OpClose, ClosePayload(1000, "")))
		p := &parser{max: 100}
		buf := append([]byte(nil), in...)
		_, _, n, _, err := p.next(buf, bufSize)
		if !errors.Is(err, ErrTooBig) {
			t.Fatalf("size %d: %v", size, err)
		}
		out, err := feed(p, buf[n:], 512, bufSize)
		if err != nil || len(out) != 1 || out[0].op != OpClose {
			t.Fatalf("size %d: after skipping, %v %v", size, out, err)
		}
	}
}

// TestParserGrowsOnlyAsBytesArrive is the amplification attack of issue
// #13: a header announcing 262,000 bytes and one byte of them must not make
// the parser hold more than a little, and the buffer grows with what
// arrives, not with what was announced.
func TestParserGrowsOnlyAsBytesArrive(t *testing.T) {
	const announced = 262000
	in := frame(true, OpText, bytes.Repeat([]byte("a"), announced))
	p := &parser{max: 256 << 10}
	hdr := 14
	if _, err := feed(p, in[:hdr+1], 1<<20, bufSize); err != nil {
		t.Fatal(err)
	}
	if !p.stream || cap(p.msg) > 64 {
		t.Fatalf("after one payload byte: streaming %v, holding %d bytes", p.stream, cap(p.msg))
	}
	sent := hdr + 1
	for sent < len(in) {
		k := min(10000, len(in)-sent)
		out, err := feed(p, in[sent:sent+k], 1<<20, bufSize)
		if err != nil {
			t.Fatal(err)
		}
		sent += k
		arrived := sent - hdr
		if c := cap(p.msg); len(out) == 0 && c > 2*arrived {
			t.Fatalf("%d payload bytes arrived, parser holds %d", arrived, c)
		}
		if len(out) == 1 && len(out[0].p) != announced {
			t.Fatalf("message of %d bytes", len(out[0].p))
		}
	}
	p.shrink(false)
	if p.msg != nil {
		t.Fatal("the message buffer is kept after the message")
	}
}

func TestAppendHeaderAndClose(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		h := AppendHeader(nil, OpText, n)
		wantLen := 2
		if n >= 126 && n <= 65535 {
			wantLen = 4
		} else if n > 65535 {
			wantLen = 10
		}
		if len(h) != wantLen || h[0] != 0x81 {
			t.Errorf("AppendHeader(%d) = %x", n, h)
		}
	}
	p := ClosePayload(1001, strings.Repeat("é", 100))
	if len(p) > 125 {
		t.Fatalf("close payload of %d bytes", len(p))
	}
	code, reason, err := ParseClose(p)
	if err != nil || code != 1001 || !strings.HasPrefix(strings.Repeat("é", 100), reason) {
		t.Fatalf("ParseClose = %d %q %v", code, reason, err)
	}
	for _, bad := range [][]byte{{3}, {0x03, 0xed}, {0x03, 0xec}, {0x13, 0x88}} { // 1 byte, 1005, 1004, 5000
		if _, _, err := ParseClose(bad); CloseCode(err) != CloseProtocolError {
			t.Errorf("ParseClose(%x) = %v, want a protocol error", bad, err)
		}
	}
	if _, _, err := ParseClose([]byte{0x03, 0xe8, 0xff}); CloseCode(err) != CloseInvalidPayload {
		t.Errorf("close reason not UTF-8: %v, want 1007", err)
	}
	if code, _, err := ParseClose([]byte{0x0b, 0xb9}); err != nil || code != 3001 {
		t.Errorf("ParseClose(3001) = %d %v", code, err)
	}
}
