package tlsrec

import (
	"net"
	"slices"
)

// Write implements net.Conn: b goes out as application data records of
// at most 16 KiB each, in one write to the socket. A failed or timed-out
// write is final.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case c.closed:
		return 0, net.ErrClosed
	case c.werr != nil:
		return 0, c.werr
	case len(b) == 0:
		return 0, nil
	}
	ob := c.pool.out.Get().(*[]byte)
	out := (*ob)[:0]
	var err error
	for p := b; len(p) > 0 && err == nil; {
		n := min(len(p), maxPlaintext)
		out, err = c.seal(out, recordAppData, p[:n])
		p = p[n:]
	}
	if err == nil {
		var n int
		n, err = c.raw.Write(out)
		if err == nil && n < len(out) {
			err = errShortWrite
		}
	}
	if cap(out) <= maxOutBuf {
		*ob = out[:0]
		c.pool.out.Put(ob)
	}
	if err != nil {
		c.werr = err
		return 0, err
	}
	return len(b), nil
}

// seal appends one record of content type typ carrying data. The caller
// holds wmu.
func (c *Conn) seal(dst []byte, typ byte, data []byte) ([]byte, error) {
	aead, err := c.out.cipher()
	if err != nil {
		return dst, err
	}
	n := len(data) + 1 + aead.Overhead()
	dst = slices.Grow(dst, headerLen+n)
	start := len(dst)
	dst = append(dst, recordAppData, 3, 3, byte(n>>8), byte(n))
	dst = append(dst, data...)
	dst = append(dst, typ)
	var nb [ivLen]byte
	body := dst[start+headerLen:]
	aead.Seal(body[:0], c.out.nonce(&nb), body, dst[start:start+headerLen]) // in place: dst has the room
	c.out.seq++
	return dst[:start+headerLen+n], nil
}
