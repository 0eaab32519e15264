package tlsrec

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"time"
)

// TakeOver moves tc, a server connection on a Watch whose handshake is
// complete, to a record layer of its own. Call it when the application
// has written everything it meant to through tc and is about to read:
// after a WebSocket upgrade's 101 response. It returns the new
// connection and any application data crypto/tls had decrypted and not
// yet returned. tc must not be used afterwards.
//
// When the connection cannot be taken over (TLS 1.2, a suite tlsrec does
// not know, a Watch that gave up) it returns an error wrapping
// ErrUnsupported, and tc stays usable as it was.
func TakeOver(tc *tls.Conn, pool *Pool) (*Conn, []byte, error) {
	w := findWatch(tc.NetConn())
	if w == nil {
		return nil, nil, fmt.Errorf("%w: not on a Watch", ErrUnsupported)
	}
	if err := w.ready(tc); err != nil {
		w.giveUp()
		return nil, nil, err
	}
	// Whatever crypto/tls decrypted and has not returned: a read with a
	// past deadline returns it and then times out without touching the
	// socket, since Watch left no raw bytes with crypto/tls.
	var early []byte
	var buf [512]byte
	w.Conn.SetReadDeadline(time.Unix(1, 0))
	var err error
	for {
		var n int
		n, err = tc.Read(buf[:])
		early = append(early, buf[:n]...)
		if err != nil {
			break
		}
	}
	w.Conn.SetReadDeadline(time.Time{})
	if !errors.Is(err, os.ErrDeadlineExceeded) || w.in.hn != 0 {
		// The connection failed or ended; leave it to crypto/tls to say so.
		w.giveUp()
		return nil, nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	c := &Conn{raw: w.Conn, pool: pool}
	in, out := w.client, w.server
	if w.isClient {
		in, out = out, in
	}
	c.in.set(w.suite, in)
	c.in.seq = w.in.app
	c.out.set(w.suite, out)
	c.out.seq = w.out.app
	w.giveUp()
	return c, early, nil
}

// ready checks that w followed tc's whole life so far and stands between
// records in both directions.
func (w *Watch) ready(tc *tls.Conn) error {
	st := tc.ConnectionState()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.bad.Load():
		return fmt.Errorf("%w: the record stream was not followed", ErrUnsupported)
	case st.Version != tls.VersionTLS13:
		return fmt.Errorf("%w: %s", ErrUnsupported, tls.VersionName(st.Version))
	case w.suite == nil || w.suite.id != st.CipherSuite:
		return fmt.Errorf("%w: suite %s", ErrUnsupported, tls.CipherSuiteName(st.CipherSuite))
	case w.client == nil || w.server == nil:
		return fmt.Errorf("%w: no traffic secrets", ErrUnsupported)
	case w.in.hn != 0 || w.out.hn != 0:
		return fmt.Errorf("%w: in the middle of a record", ErrUnsupported)
	case w.in.app == 0 || w.out.app == 0:
		return fmt.Errorf("%w: no application data seen", ErrUnsupported)
	}
	return nil
}
