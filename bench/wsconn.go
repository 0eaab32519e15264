package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"
)

// conn is a lean WebSocket client connection made for load generation: it
// writes whole batches of masked text frames in one system call and parses
// server frames in place, with a read buffer that grows only when a large
// message arrives. It answers pings by itself.
type conn struct {
	nc     net.Conn
	mask   [4]byte
	noPong bool // an attacker's socket: its byte stream stays as it left it

	wmu  sync.Mutex
	wbuf []byte

	rbuf []byte
	r, w int
}

// errClosed is returned by read when the server sent a close frame.
var errClosed = errors.New("closed by server")

// dialWS opens a WebSocket to rawURL (ws:// or wss://host:port/path?query),
// binding the local address to src when it is not nil. A wss:// URL is
// dialled with tc (nil: the system's roots).
func dialWS(ctx context.Context, rawURL string, src net.IP, tc *tls.Config) (*conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("bench: only ws:// and wss:// URLs are supported, got %q", rawURL)
	}
	d := net.Dialer{}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "wss" {
		tlsc := tls.Client(nc, clientTLS(tc, u.Hostname()))
		if err := tlsc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("bench: TLS handshake: %w", err)
		}
		nc = tlsc
	}
	c := &conn{nc: nc, rbuf: make([]byte, 512)}
	if _, err := rand.Read(c.mask[:]); err != nil {
		nc.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if err := c.handshake(u); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *conn) handshake(u *url.URL) error {
	var key [16]byte
	_, _ = rand.Read(key[:])
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	if _, err := io.WriteString(c.nc, req); err != nil {
		return err
	}
	// Read the response head byte-wise into rbuf so that frames sent right
	// after it stay buffered for read.
	for {
		if c.w == len(c.rbuf) {
			if len(c.rbuf) >= 16<<10 {
				return errors.New("bench: handshake response too long")
			}
			c.grow(len(c.rbuf) * 2)
		}
		n, err := c.nc.Read(c.rbuf[c.w:])
		if err != nil {
			return fmt.Errorf("bench: handshake: %w", err)
		}
		c.w += n
		if i := bytes.Index(c.rbuf[:c.w], []byte("\r\n\r\n")); i >= 0 {
			status, _, _ := bufio.NewReader(bytes.NewReader(c.rbuf[:i])).ReadLine()
			if !bytes.HasPrefix(status, []byte("HTTP/1.1 101")) {
				return fmt.Errorf("bench: handshake refused: %s", status)
			}
			c.r = i + 4
			return nil
		}
	}
}

func (c *conn) grow(n int) {
	nb := make([]byte, n)
	copy(nb, c.rbuf[c.r:c.w])
	c.w -= c.r
	c.r = 0
	c.rbuf = nb
}

// appendFrame appends one masked text frame carrying payload.
func (c *conn) appendFrame(dst, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x81, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x81, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x81, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, c.mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(dst[start:], c.mask)
	return dst
}

func maskBytes(p []byte, m [4]byte) {
	k := uint64(binary.LittleEndian.Uint32(m[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k)
	}
	for ; i < len(p); i++ {
		p[i] ^= m[i&3]
	}
}

// send writes messages, each one text frame, in a single write.
func (c *conn) send(msgs ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.wbuf[:0]
	for _, m := range msgs {
		c.wbuf = c.appendFrame(c.wbuf, m)
	}
	_, err := c.nc.Write(c.wbuf)
	return err
}

// sendBatch writes n messages made by build (which appends the i-th message
// to its argument) in a single write.
func (c *conn) sendBatch(n int, scratch []byte, build func(dst []byte, i int) []byte) ([]byte, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.wbuf[:0]
	for i := 0; i < n; i++ {
		scratch = build(scratch[:0], i)
		c.wbuf = c.appendFrame(c.wbuf, scratch)
	}
	_, err := c.nc.Write(c.wbuf)
	return scratch, err
}

// fill reads more bytes so that need bytes from c.r can fit the buffer.
func (c *conn) fill(need int) error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	switch {
	case need > len(c.rbuf):
		size := len(c.rbuf)
		for size < need {
			size *= 2
		}
		c.grow(size)
	case c.r+need > len(c.rbuf):
		copy(c.rbuf, c.rbuf[c.r:c.w])
		c.w -= c.r
		c.r = 0
	}
	n, err := c.nc.Read(c.rbuf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// read returns the next text or binary message. The slice is valid until the
// next call. Pings are answered; a close frame ends with errClosed.
func (c *conn) read() ([]byte, error) {
	for {
		for c.w-c.r < 2 {
			if err := c.fill(2); err != nil {
				return nil, err
			}
		}
		b0, b1 := c.rbuf[c.r], c.rbuf[c.r+1]
		hdr := 2
		n := int(b1 & 0x7f)
		switch n {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		for c.w-c.r < hdr {
			if err := c.fill(hdr); err != nil {
				return nil, err
			}
		}
		switch n {
		case 126:
			n = int(binary.BigEndian.Uint16(c.rbuf[c.r+2:]))
		case 127:
			n = int(binary.BigEndian.Uint64(c.rbuf[c.r+2:]))
		}
		if b1&0x80 != 0 {
			return nil, errors.New("bench: masked frame from server")
		}
		if n > 64<<20 {
			return nil, errors.New("bench: frame too large")
		}
		for c.w-c.r < hdr+n {
			if err := c.fill(hdr + n); err != nil {
				return nil, err
			}
		}
		p := c.rbuf[c.r+hdr : c.r+hdr+n]
		c.r += hdr + n
		if b0&0x80 == 0 {
			return nil, errors.New("bench: fragmented messages are not supported")
		}
		switch b0 & 0x0f {
		case 1, 2:
			return p, nil
		case 8:
			return nil, errClosed
		case 9:
			if c.noPong {
				break
			}
			if err := c.pong(p); err != nil {
				return nil, err
			}
		}
	}
}

func (c *conn) pong(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = append(c.wbuf[:0], 0x8a, 0x80|byte(len(p)))
	c.wbuf = append(c.wbuf, c.mask[:]...)
	start := len(c.wbuf)
	c.wbuf = append(c.wbuf, p...)
	maskBytes(c.wbuf[start:], c.mask)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// shrink drops a read buffer grown for a large message once it is empty, so
// that held idle sockets stay small on the generator side too.
func (c *conn) shrink() {
	if c.r == c.w && len(c.rbuf) > 4096 {
		c.rbuf = make([]byte, 512)
		c.r, c.w = 0, 0
	}
}

func (c *conn) close() error {
	if c.noPong {
		return c.nc.Close() // a close frame would only extend the attack's frame
	}
	c.wmu.Lock()
	// A close frame with code 1000, then the TCP close.
	frame := []byte{0x88, 0x82}
	frame = append(frame, c.mask[:]...)
	frame = append(frame, 0x03^c.mask[0], 0xe8^c.mask[1])
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.nc.Write(frame)
	c.wmu.Unlock()
	return c.nc.Close()
}

// clientTLS is tc for a connection to host: a copy with the server name set
// when tc names none (it shares tc's session cache).
func clientTLS(tc *tls.Config, host string) *tls.Config {
	if tc == nil {
		return &tls.Config{ServerName: host}
	}
	if tc.ServerName != "" || tc.InsecureSkipVerify {
		return tc
	}
	c := tc.Clone()
	c.ServerName = host
	return c
}
