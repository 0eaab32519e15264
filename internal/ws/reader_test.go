package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
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

type got struct {
	op Opcode
	p  string
}

func readAll(t *testing.T, r *Reader) ([]got, error) {
	t.Helper()
	var out []got
	for {
		op, p, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, got{op, string(p)})
	}
}

func TestReader(t *testing.T) {
	big := strings.Repeat("s", 70000) // 64-bit length, longer than the buffer
	mid := strings.Repeat("m", 300)   // 16-bit length
	tests := []struct {
		name    string
		in      []byte
		early   int // bytes handed over as already read
		max     int
		want    []got
		wantErr error
	}{
		{"text", frame(true, OpText, []byte(`{"command":"ping"}`)), 0, 1 << 20,
			[]got{{OpText, `{"command":"ping"}`}}, io.EOF},
		{"lengths", cat(frame(true, OpText, []byte(mid)), frame(true, OpBinary, []byte(big)), frame(true, OpText, nil)), 0, 1 << 20,
			[]got{{OpText, mid}, {OpBinary, big}, {OpText, ""}}, io.EOF},
		{"fragments with a ping between", cat(frame(false, OpText, []byte("he")), frame(true, OpPing, []byte("p")),
			frame(false, OpContinuation, []byte("ll")), frame(true, OpContinuation, []byte("o"))), 0, 1 << 20,
			[]got{{OpPing, "p"}, {OpText, "hello"}}, io.EOF},
		{"UTF-8 split across fragments", cat(frame(false, OpText, []byte("\xc3")), frame(true, OpContinuation, []byte("\xbc"))), 0, 100,
			[]got{{OpText, "ü"}}, io.EOF},
		{"early bytes", cat(frame(true, OpText, []byte("a")), frame(true, OpText, []byte("b"))), 9, 100,
			[]got{{OpText, "a"}, {OpText, "b"}}, io.EOF},
		{"close frame", frame(true, OpClose, ClosePayload(1000, "bye")), 0, 100,
			[]got{{OpClose, "\x03\xe8bye"}}, io.EOF},
		{"unmasked", []byte{0x81, 0x01, 'x'}, 0, 100, nil, ErrProtocol},
		{"reserved bit", func() []byte { f := frame(true, OpText, []byte("x")); f[0] |= 0x40; return f }(), 0, 100, nil, ErrProtocol},
		{"unknown opcode", frame(true, Opcode(3), []byte("x")), 0, 100, nil, ErrProtocol},
		{"fragmented control", frame(false, OpPing, nil), 0, 100, nil, ErrProtocol},
		{"long control", frame(true, OpPing, make([]byte, 126)), 0, 1000, nil, ErrProtocol},
		{"continuation first", frame(true, OpContinuation, []byte("x")), 0, 100, nil, ErrProtocol},
		{"new message inside a fragmented one", cat(frame(false, OpText, []byte("a")), frame(true, OpText, []byte("b"))), 0, 100, nil, ErrProtocol},
		{"too big at once", frame(true, OpText, make([]byte, 101)), 0, 100, nil, ErrTooBig},
		{"too big in fragments", cat(frame(false, OpText, make([]byte, 60)), frame(true, OpContinuation, make([]byte, 41))), 0, 100, nil, ErrTooBig},
		{"exactly the limit", frame(true, OpText, bytes.Repeat([]byte("a"), 100)), 0, 100, []got{{OpText, strings.Repeat("a", 100)}}, io.EOF},
		{"invalid UTF-8", frame(true, OpText, []byte("\xff")), 0, 100, nil, ErrInvalidUTF8},
		{"truncated payload", frame(true, OpText, []byte("hello"))[:8], 0, 100, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				var src io.Reader = bytes.NewReader(tt.in[tt.early:])
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				r := NewReader(src, tt.in[:tt.early], tt.max)
				defer r.Close()
				out, err := readAll(t, r)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v (got %d messages)", err, tt.wantErr, len(out))
				}
				if len(out) != len(tt.want) {
					t.Fatalf("got %d messages, want %d", len(out), len(tt.want))
				}
				for i := range out {
					if out[i] != tt.want[i] {
						t.Fatalf("message %d = %v %.40q, want %v %.40q", i, out[i].op, out[i].p, tt.want[i].op, tt.want[i].p)
					}
				}
			})
		}
	}
}

// TestReaderHoldsNoBufferWhenIdle checks the memory promise: once every
// byte read is consumed, the next Next gives the buffer back before it
// blocks.
func TestReaderHoldsNoBufferWhenIdle(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewReader(pr, nil, 1000)
	go pw.Write(frame(true, OpText, []byte("one")))
	if _, p, err := r.Next(); err != nil || string(p) != "one" {
		t.Fatalf("%q %v", p, err)
	}
	if r.buf == nil {
		t.Fatal("buffer released before the message was used")
	}
	done := make(chan struct{})
	go func() {
		r.Next() // blocks: nothing more is written
		close(done)
	}()
	// Wait until the reader is blocked in the pipe, holding no buffer.
	pw.Write(nil) // a zero write rendezvous: returns once the reader is reading
	pw.CloseWithError(io.EOF)
	<-done
	if r.buf != nil {
		t.Fatal("reader still holds a buffer while idle")
	}
}

func TestAppendHeaderAndClose(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		h := AppendHeader(nil, OpText, n)
		wantLen := map[bool]int{true: 2}[n < 126]
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
		if _, _, err := ParseClose(bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("ParseClose(%x) = %v, want a protocol error", bad, err)
		}
	}
	if code, _, err := ParseClose([]byte{0x0b, 0xb9}); err != nil || code != 3001 {
		t.Errorf("ParseClose(3001) = %d %v", code, err)
	}
}

// FuzzReader feeds arbitrary bytes: no panic, limits always hold, and text
// messages are valid UTF-8.
func FuzzReader(f *testing.F) {
	f.Add(frame(true, OpText, []byte(`{"command":"join","streamId":"r"}`)), uint8(0))
	f.Add(cat(frame(false, OpText, []byte("a")), frame(true, OpPing, nil), frame(true, OpContinuation, []byte("b"))), uint8(3))
	f.Add(frame(true, OpBinary, make([]byte, 300)), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, early uint8) {
		e := min(int(early), len(in))
		r := NewReader(iotest.HalfReader(bytes.NewReader(in[e:])), in[:e], 256)
		defer r.Close()
		for {
			op, p, err := r.Next()
			if err != nil {
				return
			}
			if op.IsControl() && len(p) > 125 || !op.IsControl() && len(p) > 256 {
				t.Fatalf("op %v with %d bytes", op, len(p))
			}
			if op == OpText && !utf8Valid(p) {
				t.Fatalf("invalid UTF-8 text returned")
			}
		}
	})
}
