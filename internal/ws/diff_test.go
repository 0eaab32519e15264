package ws

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The differential fuzz: the same bytes from a client go to duet's parser
// and to gorilla/websocket's server side, and both must see the same
// messages and control frames, and end the same way. Where the two differ
// by design, duet follows RFC 6455 more strictly and the difference is
// allowed explicitly:
//   - gorilla does not check that text messages are UTF-8; duet refuses
//     them with 1007;
//   - gorilla takes a one-byte close payload as "no status"; duet refuses
//     it with 1002 (RFC 6455 5.5.1: a close body starts with a 2-byte code);
//   - a close reason that is not UTF-8 is 1002 to gorilla and 1007 to duet
//     (RFC 6455 8.1);
//   - a 64-bit length with its top bit set is over the limit to gorilla
//     (1009) and a protocol error to duet (1002, RFC 6455 5.2).

// outcome is how a stream of client bytes ends for a server.
type outcome struct {
	events []event
	end    string // "more" (needs more bytes), "close <code>", "error <code>"
}

func duetSees(in []byte, max, chunk int) outcome {
	p := &parser{max: max}
	var o outcome
	out, err := feed(p, in, chunk, bufSize)
	for _, e := range out {
		if e.op == OpClose {
			code, _, cerr := ParseClose([]byte(e.p))
			if cerr != nil {
				o.end = "error " + itoa(CloseCode(cerr))
			} else {
				o.end = "close " + itoa(code)
			}
			return o
		}
		o.events = append(o.events, e)
	}
	switch {
	case err != nil:
		o.end = "error " + itoa(CloseCode(err))
	default:
		o.end = "more"
	}
	return o
}

// gorillaSees runs gorilla's server side over in.
func gorillaSees(t *testing.T, in []byte, max int) outcome {
	nc := &replayConn{r: bytes.NewReader(in)}
	w := &hijacker{nc: nc, h: http.Header{}}
	req, _ := http.NewRequest("GET", "http://x/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	up := websocket.Upgrader{ReadBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }}
	c, err := up.Upgrade(w, req, nil)
	if err != nil {
		t.Fatalf("gorilla upgrade: %v", err)
	}
	defer c.Close()
	c.SetReadLimit(int64(max))
	var o outcome
	c.SetPingHandler(func(s string) error { o.events = append(o.events, event{OpPing, s}); return nil })
	c.SetPongHandler(func(s string) error { o.events = append(o.events, event{OpPong, s}); return nil })
	c.SetCloseHandler(func(int, string) error { return nil })
	for {
		typ, p, err := c.ReadMessage()
		if err == nil {
			o.events = append(o.events, event{Opcode(typ), string(p)})
			continue
		}
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
			o.end = "more" // gorilla's name for the end of the input
		case errors.As(err, &ce):
			o.end = "close " + itoa(ce.Code)
		case errors.Is(err, websocket.ErrReadLimit):
			o.end = "error 1009"
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			o.end = "more"
		case strings.HasPrefix(err.Error(), "websocket: "):
			o.end = "error 1002"
		default:
			t.Fatalf("gorilla: unexpected error %v", err)
		}
		return o
	}
}

// agree compares the two outcomes, allowing only the documented differences.
func agree(d, g outcome) (bool, string) {
	n := min(len(d.events), len(g.events))
	for i := 0; i < n; i++ {
		if d.events[i] != g.events[i] {
			return false, "event " + itoa(i)
		}
	}
	if len(g.events) > len(d.events) {
		// gorilla went on where duet stopped: only past a text message
		// that is not UTF-8.
		e := g.events[len(d.events)]
		if d.end == "error 1007" && e.op == OpText && !utf8.ValidString(e.p) {
			return true, ""
		}
		return false, "gorilla saw more: " + e.p
	}
	if len(d.events) > len(g.events) {
		return false, "duet saw more"
	}
	if d.end == g.end {
		return true, ""
	}
	switch {
	case d.end == "error 1002" && g.end == "close 1005": // one-byte close payload
		return true, ""
	case d.end == "error 1007" && g.end == "error 1002": // close reason not UTF-8
		return true, ""
	case d.end == "error 1002" && g.end == "error 1009": // a length of 2^63 or more
		return true, ""
	}
	return false, "ends: duet " + d.end + ", gorilla " + g.end
}

func FuzzDifferential(f *testing.F) {
	f.Add(frame(true, OpText, []byte(`{"command":"join","streamId":"r"}`)), uint8(0))
	f.Add(cat(frame(false, OpText, []byte("a")), frame(true, OpPing, []byte("x")), frame(true, OpContinuation, []byte("b"))), uint8(3))
	f.Add(cat(frame(true, OpBinary, make([]byte, 300)), frame(true, OpClose, ClosePayload(1001, "bye"))), uint8(1))
	f.Add(frame(true, OpText, []byte("\xff")), uint8(2))
	f.Add(frame(true, OpClose, []byte{0x03, 0xe8, 0xff}), uint8(5))
	f.Add(frame(true, OpClose, []byte{0x03}), uint8(5))
	f.Add(cat(frame(true, OpPong, nil), frame(false, OpBinary, make([]byte, 200)), frame(true, OpContinuation, make([]byte, 100))), uint8(9))
	f.Add([]byte{0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const max = 512
		d := duetSees(in, max, int(chunk)+1)
		g := gorillaSees(t, in, max)
		if ok, why := agree(d, g); !ok {
			t.Fatalf("%s\nduet:    %v %s\ngorilla: %v %s", why, d.events, d.end, g.events, g.end)
		}
	})
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// replayConn is a net.Conn that reads fixed bytes and discards writes.
type replayConn struct{ r *bytes.Reader }

func (c *replayConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *replayConn) Close() error                     { return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// hijacker is the http.ResponseWriter gorilla's Upgrade takes over.
type hijacker struct {
	nc net.Conn
	h  http.Header
}

func (w *hijacker) Header() http.Header         { return w.h }
func (w *hijacker) Write(p []byte) (int, error) { return len(p), nil }
func (w *hijacker) WriteHeader(int)             {}
func (w *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.nc, bufio.NewReadWriter(bufio.NewReader(w.nc), bufio.NewWriter(w.nc)), nil
}
