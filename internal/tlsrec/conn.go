// Package tlsrec is a TLS 1.3 record layer for a connection whose
// handshake crypto/tls did: it takes the traffic secrets and sequence
// numbers over at a quiet moment (TakeOver) and from then on encrypts and
// decrypts records itself, so that an idle connection holds no goroutine,
// no buffer and no cipher state — only its keys — and can be parked in a
// poller like a plain TCP socket. crypto/tls keeps a record buffer the
// size of the largest record it read, the handshake's message buffer and
// both AEAD states for the life of a connection; on a server holding
// thousands of idle WebSockets those were most of a socket's cost.
//
// Only what a server needs after a TLS 1.3 handshake is here: application
// data both ways, KeyUpdate (answered when asked), alerts, and the
// limits crypto/tls enforces (record sizes, padding, non-advancing
// records). Anything else — TLS 1.2, a suite it does not know, a
// connection that did something unusual before the take-over — stays
// with crypto/tls. Its behaviour is checked against crypto/tls by
// differential and fuzz tests (conn_test.go, fuzz_test.go).
package tlsrec

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// Record layer limits of RFC 8446 section 5.
const (
	headerLen      = 5
	maxPlaintext   = 1 << 14
	maxCiphertext  = maxPlaintext + 256
	maxRecord      = headerLen + maxCiphertext
	maxUseless     = 16 // records in a row that carry no data (crypto/tls's bound)
	recordTypeCCS  = 20
	recordAlert    = 21
	recordHand     = 22
	recordAppData  = 23
	typeKeyUpdate  = 24
	alertLevelWarn = 1
	alertLevelErr  = 2
)

// Alerts the record layer sends or recognises.
const (
	alertCloseNotify    = 0
	alertUnexpected     = 10
	alertBadRecordMAC   = 20
	alertRecordOverflow = 22
	alertDecodeError    = 50
	alertProtocolVers   = 70
	alertUserCanceled   = 90
)

// Errors of the record layer. A failed read is sticky, as in crypto/tls.
var (
	ErrBadRecord    = errors.New("tlsrec: record failed to decrypt")
	ErrProtocol     = errors.New("tlsrec: protocol violation")
	ErrPeerAlert    = errors.New("tlsrec: the peer sent an alert")
	ErrUnsupported  = errors.New("tlsrec: connection cannot be taken over")
	errShortWrite   = errors.New("tlsrec: short write")
	errWriteBroken  = errors.New("tlsrec: an earlier write failed")
	errKeyUpdateAck = errors.New("tlsrec: could not answer a KeyUpdate")
)

// Pool lends read and write buffers to Conns while records flow. One Pool
// serves a server's connections.
type Pool struct {
	small sync.Pool // read buffers of smallBuf bytes
	big   sync.Pool // read buffers of a whole record
	out   sync.Pool // write buffers, grown as needed
}

// A reader borrows a small buffer first and a record-sized one when a
// record does not fit: signaling messages and pings are small.
const (
	smallBuf  = 2 << 10
	bigBuf    = maxRecord
	maxOutBuf = 64 << 10 // larger write buffers are not kept
)

// NewPool makes a Pool.
func NewPool() *Pool {
	p := &Pool{}
	p.small.New = func() any { b := make([]byte, smallBuf); return &b }
	p.big.New = func() any { b := make([]byte, bigBuf); return &b }
	p.out.New = func() any { b := make([]byte, 0, smallBuf); return &b }
	return p
}

func (p *Pool) get(n int) *[]byte {
	if n <= smallBuf {
		return p.small.Get().(*[]byte)
	}
	return p.big.Get().(*[]byte)
}

func (p *Pool) put(b *[]byte) {
	switch {
	case b == nil:
	case len(*b) == smallBuf:
		p.small.Put(b)
	default:
		p.big.Put(b)
	}
}

// Conn is a TLS 1.3 connection after its handshake. Read and Write may
// run at the same time (one of each); Pending and Park belong to the
// reader.
type Conn struct {
	raw  net.Conn
	pool *Pool

	// Owned by the reader.
	in      keys
	rbuf    *[]byte // borrowed while reading; nil when parked
	r, w    int     // raw bytes not yet decrypted: (*rbuf)[r:w]
	plain   []byte  // decrypted data not yet returned, inside *rbuf
	rest    []byte  // a partial record kept while parked
	hand    []byte  // a post-handshake message split over records
	useless int     // records in a row without data
	rerr    error

	wmu    sync.Mutex
	out    keys
	werr   error
	closed bool
}

var _ net.Conn = (*Conn)(nil)

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline implements net.Conn. A read that times out leaves the
// connection usable, as in crypto/tls.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline implements net.Conn. A write that times out breaks the
// connection for writing: part of a record may have gone out.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// SyscallConn is the socket's, so that a poller can wait on it.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return nil, ErrUnsupported
	}
	return sc.SyscallConn()
}

// NetConn is the socket under the record layer.
func (c *Conn) NetConn() net.Conn { return c.raw }

// Close sends close_notify when it can do so without waiting, and closes
// the socket. A writer blocked in a write (the owner set a past deadline
// to free it) gets no alert after its partial record.
func (c *Conn) Close() error {
	if c.wmu.TryLock() {
		if !c.closed && c.werr == nil {
			c.sendAlertNow(alertLevelWarn, alertCloseNotify)
		}
		c.closed = true
		c.out.aead = nil
		c.wmu.Unlock()
	}
	return c.raw.Close()
}

// ErrWriteBusy is CloseWrite's answer while a Write is in progress.
var ErrWriteBusy = errors.New("tlsrec: a write is in progress")

// CloseWrite ends the write side: close_notify, then a FIN on the socket,
// while reading goes on. A server that gives up on a broken stream says so
// this way and drains what the peer still sends, rather than closing at
// once and answering the peer's bytes in flight with a reset (which can
// destroy what it sent last before the peer reads it). It does not wait:
// the alert is dropped if the socket has no room for it, and while a Write
// is in progress (its record half sent) it does nothing and returns
// ErrWriteBusy. Writes after it fail.
func (c *Conn) CloseWrite() error {
	if !c.wmu.TryLock() {
		return ErrWriteBusy
	}
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if c.werr == nil {
		c.sendAlertNow(alertLevelWarn, alertCloseNotify)
	}
	cw, ok := c.raw.(interface{ CloseWrite() error })
	if !ok {
		return ErrUnsupported
	}
	return cw.CloseWrite()
}

// sendAlertNow writes an alert record in one non-blocking write, dropping
// it if the socket would block. The caller holds wmu.
func (c *Conn) sendAlertNow(level, desc byte) {
	rec, err := c.seal(nil, recordAlert, []byte{level, desc})
	if err != nil {
		return
	}
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	// A past write deadline (the owner freeing a writer) would refuse
	// even a try; no writer holds wmu, so clearing it is safe.
	c.raw.SetWriteDeadline(time.Time{})
	rc.Write(func(fd uintptr) bool {
		writeNow(fd, rec)
		return true // never wait for room
	})
	c.werr = errWriteBroken
}
