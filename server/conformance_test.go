package server_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/duet-rtc/duet/config"
)

// The conformance table: the cases of the Autobahn testsuite's server
// sections, sent byte for byte over a real socket to a real duet server.
// Autobahn expects an echo server; duet is not one, so a case's message is
// an application ping ({"command":"ping"}, padded or split as the case
// needs) and the echo it checks for is duet's pong. The numbers are
// Autobahn's case numbers.

type wantKind int

const (
	wantPong      wantKind = iota + 1 // the message was taken: an application pong comes back
	wantPongFrame                     // a pong frame with the ping's payload
	wantClose                         // a close frame with code, then the TCP close
	wantNothing                       // nothing comes back (checked with a ping after)
)

type ccase struct {
	id     string
	frames [][]byte // written one at a time
	want   []wantKind
	code   int    // for wantClose
	pong   string // for wantPongFrame
}

const pingMsg = `{"command":"ping"}`

func mframe(fin bool, op byte, payload []byte) []byte { return rawFrame(fin, op, 0, payload, true) }

func rawFrame(fin bool, op, rsv byte, payload []byte, masked bool) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, m|byte(n))
	case n <= 0xFFFF:
		out = append(out, m|126, byte(n>>8), byte(n))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	key := [4]byte{0xa1, 0x5e, 0x03, 0x77}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// padded is an application ping of exactly n bytes (JSON allows trailing
// spaces).
func padded(n int) []byte { return []byte(pingMsg + strings.Repeat(" ", n-len(pingMsg))) }

func closeBody(code int, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

func conformanceCases(limit int) []ccase {
	text := func(p []byte) []byte { return mframe(true, 1, p) }
	ping := []byte(pingMsg)
	cs := []ccase{
		// 1 Framing: text messages of every length encoding.
		{id: "1.1.1 length 18", frames: [][]byte{text(ping)}, want: []wantKind{wantPong}},
		{id: "1.1.2 length 125", frames: [][]byte{text(padded(125))}, want: []wantKind{wantPong}},
		{id: "1.1.3 length 126", frames: [][]byte{text(padded(126))}, want: []wantKind{wantPong}},
		{id: "1.1.4 length 127", frames: [][]byte{text(padded(127))}, want: []wantKind{wantPong}},
		{id: "1.1.5 length 128", frames: [][]byte{text(padded(128))}, want: []wantKind{wantPong}},
		{id: "1.1.6 length 65535", frames: [][]byte{text(padded(65535))}, want: []wantKind{wantPong}},
		{id: "1.1.7 length 65536", frames: [][]byte{text(padded(65536))}, want: []wantKind{wantPong}},
		{id: "1.1.8 length 65536 in chunks of 997", frames: chunks(text(padded(65536)), 997), want: []wantKind{wantPong}},
		{id: "1.2 binary (duet takes text only)", frames: [][]byte{mframe(true, 2, []byte{1, 2, 3})}, want: []wantKind{wantClose}, code: 1003},
		{id: "1.x unmasked client frame", frames: [][]byte{rawFrame(true, 1, 0, ping, false)}, want: []wantKind{wantClose}, code: 1002},
		// 2 Pings and pongs.
		{id: "2.1 ping, no payload", frames: [][]byte{mframe(true, 9, nil)}, want: []wantKind{wantPongFrame}},
		{id: "2.2 ping with payload", frames: [][]byte{mframe(true, 9, []byte("Hello, world!"))}, want: []wantKind{wantPongFrame}, pong: "Hello, world!"},
		{id: "2.3 ping, binary payload", frames: [][]byte{mframe(true, 9, []byte{0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff})}, want: []wantKind{wantPongFrame}, pong: "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"},
		{id: "2.4 ping, 125 bytes", frames: [][]byte{mframe(true, 9, bytes.Repeat([]byte{0xfe}, 125))}, want: []wantKind{wantPongFrame}, pong: strings.Repeat("\xfe", 125)},
		{id: "2.5 ping, 126 bytes", frames: [][]byte{mframe(true, 9, bytes.Repeat([]byte{0xfe}, 126))}, want: []wantKind{wantClose}, code: 1002},
		{id: "2.6 ping, 125 bytes a byte at a time", frames: chunks(mframe(true, 9, bytes.Repeat([]byte{0xfe}, 125)), 1), want: []wantKind{wantPongFrame}, pong: strings.Repeat("\xfe", 125)},
		{id: "2.7 unsolicited pong", frames: [][]byte{mframe(true, 10, nil)}, want: []wantKind{wantNothing}},
		{id: "2.8 unsolicited pong with payload", frames: [][]byte{mframe(true, 10, []byte("unsolicited"))}, want: []wantKind{wantNothing}},
		{id: "2.9 pong, then ping", frames: [][]byte{mframe(true, 10, []byte("x")), mframe(true, 9, []byte("y"))}, want: []wantKind{wantPongFrame}, pong: "y"},
		// 3 Reserved bits.
		{id: "3.1 RSV1 on text", frames: [][]byte{rawFrame(true, 1, 4, ping, true)}, want: []wantKind{wantClose}, code: 1002},
		{id: "3.2 RSV2 on text after a good one", frames: [][]byte{text(ping), rawFrame(true, 1, 2, ping, true)}, want: []wantKind{wantPong, wantClose}, code: 1002},
		{id: "3.3 RSV3 on text", frames: [][]byte{rawFrame(true, 1, 1, ping, true)}, want: []wantKind{wantClose}, code: 1002},
		{id: "3.4 RSV1+RSV2 on text", frames: [][]byte{rawFrame(true, 1, 6, ping, true)}, want: []wantKind{wantClose}, code: 1002},
		{id: "3.5 RSV1+RSV3 on binary", frames: [][]byte{rawFrame(true, 2, 5, []byte{1}, true)}, want: []wantKind{wantClose}, code: 1002},
		{id: "3.6 RSV2+RSV3 on ping", frames: [][]byte{rawFrame(true, 9, 3, nil, true)}, want: []wantKind{wantClose}, code: 1002},
		{id: "3.7 all RSV on close", frames: [][]byte{rawFrame(true, 8, 7, nil, true)}, want: []wantKind{wantClose}, code: 1002},
	}
	// 4 Opcodes: the reserved non-control (3-7) and control (11-15) ones.
	for op := byte(3); op <= 15; op++ {
		if op >= 8 && op <= 10 {
			continue
		}
		cs = append(cs, ccase{id: fmt.Sprintf("4.x reserved opcode %d", op), frames: [][]byte{text(ping), mframe(true, op, []byte("x"))},
			want: []wantKind{wantPong, wantClose}, code: 1002})
	}
	cs = append(cs,
		// 5 Fragmentation.
		ccase{id: "5.1 fragmented ping", frames: [][]byte{mframe(false, 9, []byte("a")), mframe(true, 0, []byte("b"))}, want: []wantKind{wantClose}, code: 1002},
		ccase{id: "5.2 fragmented pong", frames: [][]byte{mframe(false, 10, []byte("a")), mframe(true, 0, []byte("b"))}, want: []wantKind{wantClose}, code: 1002},
		ccase{id: "5.3 text in two fragments", frames: [][]byte{mframe(false, 1, ping[:5]), mframe(true, 0, ping[5:])}, want: []wantKind{wantPong}},
		ccase{id: "5.4 text in three fragments, the last empty", frames: [][]byte{mframe(false, 1, ping[:5]), mframe(false, 0, ping[5:]), mframe(true, 0, nil)}, want: []wantKind{wantPong}},
		ccase{id: "5.6 ping between fragments", frames: [][]byte{mframe(false, 1, ping[:5]), mframe(true, 9, []byte("mid")), mframe(true, 0, ping[5:])}, want: []wantKind{wantPongFrame, wantPong}, pong: "mid"},
		ccase{id: "5.8 ping between fragments, a byte at a time", frames: chunks(cat(mframe(false, 1, ping[:5]), mframe(true, 9, []byte("mid")), mframe(true, 0, ping[5:])), 1), want: []wantKind{wantPongFrame, wantPong}, pong: "mid"},
		ccase{id: "5.9 continuation with no message", frames: [][]byte{mframe(true, 0, ping), text(ping)}, want: []wantKind{wantClose}, code: 1002},
		ccase{id: "5.10 continuation with no message, unfinished", frames: [][]byte{mframe(false, 0, ping)}, want: []wantKind{wantClose}, code: 1002},
		ccase{id: "5.15 a new message inside a fragmented one", frames: [][]byte{mframe(false, 1, ping[:5]), mframe(true, 1, ping)}, want: []wantKind{wantClose}, code: 1002},
		ccase{id: "5.19 fragments with pings, many", frames: [][]byte{mframe(false, 1, ping[:3]), mframe(true, 9, []byte("p1")), mframe(false, 0, ping[3:9]), mframe(true, 9, []byte("p2")), mframe(true, 0, ping[9:])},
			want: []wantKind{wantPongFrame, wantPongFrame, wantPong}},
		// 6 UTF-8.
		ccase{id: "6.2 valid multi-byte text", frames: [][]byte{text([]byte(`{"command":"ping","x":"κόσμε 𝄞"}`))}, want: []wantKind{wantPong}},
		ccase{id: "6.2.3 a code point split across fragments", frames: [][]byte{mframe(false, 1, []byte("{\"command\":\"ping\",\"x\":\"\xce")), mframe(true, 0, []byte("\xba\"}"))}, want: []wantKind{wantPong}},
		ccase{id: "6.3 invalid UTF-8", frames: [][]byte{text([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"))}, want: []wantKind{wantClose}, code: 1007},
		ccase{id: "6.4 invalid UTF-8 in a fragment", frames: [][]byte{mframe(false, 1, []byte("\xce\xba\xe1")), mframe(true, 0, []byte("\xff"))}, want: []wantKind{wantClose}, code: 1007},
		ccase{id: "6.x overlong encoding", frames: [][]byte{text([]byte("\xc0\xaf"))}, want: []wantKind{wantClose}, code: 1007},
		ccase{id: "6.x surrogate", frames: [][]byte{text([]byte("\xed\xa0\x80"))}, want: []wantKind{wantClose}, code: 1007},
		// 7 Close handling.
		ccase{id: "7.1.1 close, no body", frames: [][]byte{mframe(true, 8, nil)}, want: []wantKind{wantClose}, code: 1000},
		ccase{id: "7.1.3 close, then text (ignored)", frames: [][]byte{mframe(true, 8, closeBody(1000, "")), text(ping)}, want: []wantKind{wantClose}, code: 1000},
		ccase{id: "7.3.2 close body of one byte", frames: [][]byte{mframe(true, 8, []byte{0x03})}, want: []wantKind{wantClose}, code: 1002},
		ccase{id: "7.3.4 close with a reason", frames: [][]byte{mframe(true, 8, closeBody(1000, "Hello World!"))}, want: []wantKind{wantClose}, code: 1000},
		ccase{id: "7.3.5 close with a 123-byte reason", frames: [][]byte{mframe(true, 8, closeBody(1000, strings.Repeat("*", 123)))}, want: []wantKind{wantClose}, code: 1000},
		ccase{id: "7.3.6 close with a 124-byte reason", frames: [][]byte{mframe(true, 8, closeBody(1000, strings.Repeat("*", 124)))}, want: []wantKind{wantClose}, code: 1002},
		ccase{id: "7.5.1 close reason not UTF-8", frames: [][]byte{mframe(true, 8, closeBody(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"))}, want: []wantKind{wantClose}, code: 1007},
	)
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, ccase{id: fmt.Sprintf("7.7 close code %d echoed", code), frames: [][]byte{mframe(true, 8, closeBody(code, ""))}, want: []wantKind{wantClose}, code: code})
	}
	for _, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cs = append(cs, ccase{id: fmt.Sprintf("7.9 invalid close code %d", code), frames: [][]byte{mframe(true, 8, closeBody(code, ""))}, want: []wantKind{wantClose}, code: 1002})
	}
	cs = append(cs,
		// 9 Limits (duet's max_message_bytes stands in for Autobahn's sizes).
		ccase{id: "9.x message at the limit", frames: [][]byte{text(padded(limit))}, want: []wantKind{wantPong}},
		ccase{id: "9.x message at the limit in 64 KiB fragments", frames: fragments(padded(limit), 64<<10), want: []wantKind{wantPong}},
		ccase{id: "9.x message over the limit", frames: [][]byte{text(padded(limit + 1))}, want: []wantKind{wantPong, wantClose}, code: 1009},
		ccase{id: "9.x fragments over the limit", frames: fragments(padded(limit+1), 1000), want: []wantKind{wantPong, wantClose}, code: 1009},
		ccase{id: "9.x a header announcing more than the limit", frames: [][]byte{mframe(true, 1, padded(limit+1))[:14]}, want: []wantKind{wantPong, wantClose}, code: 1009},
	)
	return cs
}

func chunks(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

func fragments(msg []byte, n int) [][]byte {
	var out [][]byte
	for i := 0; i < len(msg); i += n {
		op := byte(0)
		if i == 0 {
			op = 1
		}
		out = append(out, mframe(i+n >= len(msg), op, msg[i:min(i+n, len(msg))]))
	}
	return out
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestConformance(t *testing.T) {
	const limit = 200 << 10
	s := startSingle(t, func(c *config.Config) { c.MaxMessageBytes = limit })
	addr := strings.TrimPrefix(s.HTTP(), "http://")
	for _, tc := range conformanceCases(limit) {
		t.Run(tc.id, func(t *testing.T) {
			rc := dialRaw(t, addr)
			for _, f := range tc.frames {
				if _, err := rc.nc.Write(f); err != nil && !tc.closes() {
					t.Fatalf("write: %v", err)
				}
			}
			for _, w := range tc.want {
				switch w {
				case wantPong:
					// A message over the limit is answered with the
					// messageTooLarge error before the close.
					op, p := rc.next(t)
					want := `"pong"`
					if tc.code == 1009 {
						want = `"messageTooLarge"`
					}
					if op != 1 || !bytes.Contains(p, []byte(want)) {
						t.Fatalf("got op %d %q, want a text message with %s", op, p, want)
					}
				case wantPongFrame:
					op, p := rc.next(t)
					if op != 10 || (tc.pong != "" && string(p) != tc.pong) {
						t.Fatalf("got op %d %q, want a pong frame %q", op, p, tc.pong)
					}
				case wantNothing:
					rc.nc.Write(mframe(true, 1, []byte(pingMsg)))
					if op, p := rc.next(t); op != 1 || !bytes.Contains(p, []byte(`"pong"`)) {
						t.Fatalf("got op %d %q, want only the pong of a later ping", op, p)
					}
				case wantClose:
					op, p := rc.next(t)
					if op != 8 || len(p) < 2 || int(binary.BigEndian.Uint16(p)) != tc.code {
						t.Fatalf("got op %d %q, want close %d", op, p, tc.code)
					}
					if tc.code != 1000 && len(p) > 2 && !isUTF8(p[2:]) {
						t.Fatalf("close reason not UTF-8: %q", p[2:])
					}
					// Then the server closes the TCP connection: at once
					// after answering a close, after our answer otherwise.
					if !tc.sendsClose() {
						rc.nc.Write(mframe(true, 8, closeBody(1000, "")))
					}
					rc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, err := io.Copy(io.Discard, rc.br); err != nil {
						t.Fatalf("the server did not close the connection: %v", err)
					}
				}
			}
		})
	}
}

func (c ccase) sendsClose() bool {
	for _, f := range c.frames {
		if len(f) > 0 && f[0]&0x0f == 8 {
			return true
		}
	}
	return false
}

func (c ccase) closes() bool {
	for _, w := range c.want {
		if w == wantClose {
			return true
		}
	}
	return false
}

// rawConn is a WebSocket client that writes bytes as given and reads the
// server's frames as they are.
type rawConn struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	io.WriteString(nc, "GET /live/websocket HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return &rawConn{nc: nc, br: br}
}

// next reads one server frame (servers do not fragment or mask).
func (c *rawConn) next(t *testing.T) (byte, []byte) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		t.Fatalf("read: %v", err)
	}
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 || h[0]&0x80 == 0 {
		t.Fatalf("bad server frame header %x", h)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		io.ReadFull(c.br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		io.ReadFull(c.br, l[:])
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return h[0] & 0x0f, p
}

func isUTF8(b []byte) bool { return utf8.Valid(b) }

// TestHandshakeNeedsHTTP11: RFC 6455 4.1 asks for HTTP/1.1 or later, and a GET.
func TestHandshakeNeedsHTTP11(t *testing.T) {
	s := startSingle(t)
	addr := strings.TrimPrefix(s.HTTP(), "http://")
	for _, req := range []string{
		"GET /live/websocket HTTP/1.0\r\n",
		"HEAD /live/websocket HTTP/1.1\r\n",
	} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(nc, req+"Host: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		nc.Close()
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		if resp.StatusCode == 101 || resp.StatusCode < 400 {
			t.Fatalf("%q: status %d, want a refusal", req, resp.StatusCode)
		}
	}
}
