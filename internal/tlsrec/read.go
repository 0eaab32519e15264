package tlsrec

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
)

// maxHandshakeMsg bounds a post-handshake message, as crypto/tls does.
const maxHandshakeMsg = 65536

// Read implements net.Conn: it returns decrypted application data,
// reading and decrypting records as needed. A timeout leaves the
// connection usable; any other error is final.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rerr != nil {
		return 0, c.rerr
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(c.plain) > 0 {
			n := copy(p, c.plain)
			c.plain = c.plain[n:]
			return n, nil
		}
		if rec, err := c.nextRecord(); err != nil {
			return 0, c.fail(err)
		} else if rec != nil {
			if err := c.open(rec); err != nil {
				return 0, c.fail(err)
			}
			continue
		}
		if err := c.fill(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, err
			}
			c.rerr = err
			return 0, err
		}
	}
}

// Pending reports whether Read would return data, or decrypt a record,
// without reading the socket: bytes a readiness event would not announce.
func (c *Conn) Pending() bool {
	if len(c.plain) > 0 {
		return true
	}
	if c.rbuf == nil || c.w-c.r < headerLen {
		return false
	}
	b := (*c.rbuf)[c.r:c.w]
	return len(b) >= headerLen+int(b[3])<<8|int(b[4])
}

// Park gives back what the reader borrowed: the read buffer (a partial
// record is kept as a copy of its bytes) and both ciphers, rebuilt from
// the keys when records flow again. The owner calls it when nothing is
// Pending and its reader is about to stop; a writer running at that
// moment keeps its cipher.
func (c *Conn) Park() {
	if c.Pending() {
		return
	}
	if c.rbuf != nil {
		if c.r < c.w {
			c.rest = append([]byte(nil), (*c.rbuf)[c.r:c.w]...)
		}
		c.pool.put(c.rbuf)
		c.rbuf, c.r, c.w, c.plain = nil, 0, 0, nil
	}
	c.in.aead = nil
	if c.wmu.TryLock() {
		c.out.aead = nil
		c.wmu.Unlock()
	}
}

// ParkWrite lets the write cipher go; it is rebuilt at the next write.
func (c *Conn) ParkWrite() {
	c.wmu.Lock()
	c.out.aead = nil
	c.wmu.Unlock()
}

// fill reads more raw bytes, borrowing a buffer big enough for the record
// that is arriving.
func (c *Conn) fill() error {
	need := smallBuf
	if c.rbuf != nil && c.w-c.r >= headerLen {
		b := (*c.rbuf)[c.r:c.w]
		need = headerLen + int(b[3])<<8 | int(b[4])
	} else if len(c.rest) >= headerLen {
		need = headerLen + int(c.rest[3])<<8 | int(c.rest[4])
	}
	switch {
	case c.rbuf == nil:
		c.rbuf = c.pool.get(max(need, len(c.rest)))
		c.r, c.w = 0, copy(*c.rbuf, c.rest)
		c.rest = nil
	case need > len(*c.rbuf):
		nb := c.pool.get(need)
		c.r, c.w = 0, copy(*nb, (*c.rbuf)[c.r:c.w])
		c.pool.put(c.rbuf)
		c.rbuf = nb
	case c.r == c.w:
		c.r, c.w = 0, 0
	case c.r+need > len(*c.rbuf):
		c.r, c.w = 0, copy(*c.rbuf, (*c.rbuf)[c.r:c.w])
	}
	n, err := c.raw.Read((*c.rbuf)[c.w:])
	c.w += n
	switch {
	case n > 0:
		return nil
	case err == io.EOF && c.r == c.w:
		return io.EOF
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	case err == nil:
		return io.ErrNoProgress
	}
	return err
}

// nextRecord returns the next whole record buffered, or nil.
func (c *Conn) nextRecord() ([]byte, error) {
	if c.rbuf == nil || c.w-c.r < headerLen {
		return nil, nil
	}
	b := (*c.rbuf)[c.r:c.w]
	if b[1] != 3 || b[2] != 3 {
		return nil, alertErr(alertProtocolVers, fmt.Errorf("%w: record version %x", ErrProtocol, b[1:3]))
	}
	n := int(b[3])<<8 | int(b[4])
	if n > maxCiphertext {
		return nil, alertErr(alertRecordOverflow, fmt.Errorf("%w: record of %d bytes", ErrProtocol, n))
	}
	if len(b) < headerLen+n {
		return nil, nil
	}
	c.r += headerLen + n
	return b[:headerLen+n], nil
}

// open decrypts one record and acts on it: application data becomes
// c.plain; alerts, KeyUpdates and change_cipher_spec are handled.
func (c *Conn) open(rec []byte) error {
	switch rec[0] {
	case recordTypeCCS:
		// Ignored after the handshake too, as crypto/tls does (RFC 8446
		// appendix D.4), within the bound on records that carry nothing.
		if len(rec) != headerLen+1 || rec[headerLen] != 1 {
			return alertErr(alertDecodeError, fmt.Errorf("%w: bad change_cipher_spec", ErrProtocol))
		}
		if len(c.hand) > 0 {
			return unexpected("change_cipher_spec inside a handshake message")
		}
		return c.uselessRecord()
	case recordAppData:
	default:
		return unexpected(fmt.Sprintf("record type %d", rec[0]))
	}
	aead, err := c.in.cipher()
	if err != nil {
		return err
	}
	var nb [ivLen]byte
	payload := rec[headerLen:]
	data, err := aead.Open(payload[:0], c.in.nonce(&nb), payload, rec[:headerLen])
	if err != nil {
		return alertErr(alertBadRecordMAC, ErrBadRecord)
	}
	c.in.seq++
	if len(data) > maxPlaintext+1 {
		return alertErr(alertRecordOverflow, fmt.Errorf("%w: plaintext of %d bytes", ErrProtocol, len(data)))
	}
	i := len(data) - 1
	for i >= 0 && data[i] == 0 {
		i--
	}
	if i < 0 {
		return unexpected("record with no content type")
	}
	typ := data[i]
	data = data[:i]
	if typ != recordHand && len(c.hand) > 0 {
		return unexpected("a record inside a handshake message")
	}
	switch typ {
	case recordAppData:
		if len(data) == 0 {
			return c.uselessRecord()
		}
		c.useless = 0
		c.plain = data
		return nil
	case recordAlert:
		if len(data) != 2 {
			return unexpected("alert of bad length")
		}
		switch data[1] {
		case alertCloseNotify:
			return io.EOF
		case alertUserCanceled:
			return c.uselessRecord()
		}
		return &net.OpError{Op: "remote error", Err: fmt.Errorf("%w %d", ErrPeerAlert, data[1])}
	case recordTypeCCS:
		// RFC 8446 5 calls a protected change_cipher_spec unexpected;
		// crypto/tls ignores one as it ignores a plain one, and clients
		// that work with it work here.
		if len(data) != 1 || data[0] != 1 {
			return alertErr(alertDecodeError, fmt.Errorf("%w: bad change_cipher_spec", ErrProtocol))
		}
		return c.uselessRecord()
	case recordHand:
		if len(data) == 0 {
			return unexpected("empty handshake record")
		}
		c.hand = append(c.hand, data...)
		return c.handshakeMessages()
	}
	return unexpected(fmt.Sprintf("content type %d", typ))
}

// uselessRecord counts a record that carried nothing for the application.
func (c *Conn) uselessRecord() error {
	c.useless++
	if c.useless > maxUseless {
		return unexpected("too many records without data")
	}
	return nil
}

// handshakeMessages handles the post-handshake messages in c.hand. A
// client may send only KeyUpdate (RFC 8446 4.6.3).
func (c *Conn) handshakeMessages() error {
	for len(c.hand) >= 4 {
		n := int(c.hand[1])<<16 | int(c.hand[2])<<8 | int(c.hand[3])
		if n > maxHandshakeMsg {
			return unexpected("handshake message too long")
		}
		if len(c.hand) < 4+n {
			return nil
		}
		msg := c.hand[:4+n]
		c.hand = c.hand[4+n:]
		if err := c.uselessRecord(); err != nil {
			return err
		}
		if msg[0] != typeKeyUpdate {
			return unexpected(fmt.Sprintf("handshake message of type %d", msg[0]))
		}
		if n != 1 || msg[4] > 1 {
			return alertErr(alertDecodeError, fmt.Errorf("%w: bad KeyUpdate", ErrProtocol))
		}
		if len(c.hand) > 0 {
			// New keys must not apply to bytes the old ones protected.
			return unexpected("KeyUpdate not at the end of its record")
		}
		if msg[4] == 1 {
			c.answerKeyUpdate()
		}
		c.in.update()
	}
	if len(c.hand) == 0 {
		c.hand = nil
	}
	return nil
}

// answerKeyUpdate sends our KeyUpdate under the current keys and moves to
// the next ones. A failure shows at the next write, as in crypto/tls.
func (c *Conn) answerKeyUpdate() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil || c.closed {
		return
	}
	rec, err := c.seal(nil, recordHand, []byte{typeKeyUpdate, 0, 0, 1, 0})
	if err == nil {
		_, err = c.raw.Write(rec)
	}
	if err != nil {
		c.werr = fmt.Errorf("%w: %w", errKeyUpdateAck, err)
		return
	}
	c.out.update()
}

// fail makes a read error final and tells the peer with an alert when
// the error carries one.
func (c *Conn) fail(err error) error {
	var ae *alertError
	if errors.As(err, &ae) {
		if c.wmu.TryLock() {
			if c.werr == nil && !c.closed {
				c.sendAlertNow(alertLevelErr, ae.alert)
			}
			c.wmu.Unlock()
		}
		err = ae.err
	}
	c.rerr = err
	return err
}

// alertError is a read error and the alert that answers it.
type alertError struct {
	alert byte
	err   error
}

func (e *alertError) Error() string { return e.err.Error() }
func (e *alertError) Unwrap() error { return e.err }

func alertErr(a byte, err error) error { return &alertError{a, err} }

func unexpected(what string) error {
	return alertErr(alertUnexpected, fmt.Errorf("%w: unexpected %s", ErrProtocol, what))
}

// Idle reports whether the connection holds no read buffer and no cipher
// state: what a parked connection should look like.
func (c *Conn) Idle() bool {
	c.wmu.Lock()
	out := c.out.aead
	c.wmu.Unlock()
	return c.rbuf == nil && c.in.aead == nil && out == nil && len(c.plain) == 0
}
