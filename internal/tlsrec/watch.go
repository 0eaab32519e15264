package tlsrec

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"net"
	"sync"
	"sync/atomic"
)

// Watch is the socket under a crypto/tls server connection until
// TakeOver. It does three things crypto/tls's API does not offer:
//   - it hands crypto/tls one record at a time, so that crypto/tls never
//     holds bytes past the record it is reading (there is nothing left
//     behind in crypto/tls's buffer when the record layer changes hands);
//   - it receives the connection's application traffic secrets, through
//     the KeyLogWriter of a per-connection Config (see ServerConfig);
//   - it counts the records protected with those secrets in each
//     direction — by opening a copy of each record with them — which
//     gives the sequence numbers to go on with.
//
// Anything it cannot follow (TLS 1.2, a KeyUpdate or alert before the
// take-over, a connection that keeps exchanging records without being
// taken over) turns it into a plain pass-through, and the connection
// stays with crypto/tls.
type Watch struct {
	net.Conn // the TCP socket

	bad atomic.Bool // pass-through from now on

	mu     sync.Mutex // guards what the handshake and both directions share
	suite  *suite
	client []byte // client_application_traffic_secret_0
	server []byte // server_application_traffic_secret_0

	in, out  watchDir
	isClient bool // the Watch is under a client (tests follow both ends)
}

// watchDir is one direction of the record stream as Watch follows it.
type watchDir struct {
	hdr  [headerLen]byte
	hn   int    // header bytes seen of the current record
	left int    // body bytes still to come of the current record
	body []byte // the current application_data record's body, copied
	k    keys   // the application traffic keys, once known
	have bool   // k is set
	app  uint64 // records opened with k: the next sequence number
}

// maxWatched bounds the records Watch opens in each direction while it
// waits for a take-over: a WebSocket upgrade needs two or three; a
// connection serving files over keep-alive is never taken over.
const maxWatched = 8

// NewWatch wraps a TCP socket accepted for a TLS server using a Config
// from ServerConfig.
func NewWatch(nc net.Conn) *Watch { return &Watch{Conn: nc} }

// NetConn is the socket.
func (w *Watch) NetConn() net.Conn { return w.Conn }

// Read implements net.Conn, for crypto/tls: at most the rest of the
// current record.
func (w *Watch) Read(p []byte) (int, error) {
	d := &w.in
	if w.bad.Load() {
		d.body = nil
		return w.Conn.Read(p)
	}
	want := d.left
	if d.hn < headerLen {
		want = headerLen - d.hn
	}
	n, err := w.Conn.Read(p[:min(len(p), want)])
	w.follow(d, p[:n], false)
	return n, err
}

// Write implements net.Conn, for crypto/tls, which writes whole records.
func (w *Watch) Write(b []byte) (int, error) {
	if w.bad.Load() {
		w.out.body = nil
	} else {
		w.follow(&w.out, b, true)
	}
	return w.Conn.Write(b)
}

// follow consumes b, bytes of d's record stream, and looks at every
// record completed.
func (w *Watch) follow(d *watchDir, b []byte, out bool) {
	for len(b) > 0 && !w.bad.Load() {
		if d.hn < headerLen {
			k := copy(d.hdr[d.hn:], b)
			d.hn += k
			b = b[k:]
			if d.hn < headerLen {
				return
			}
			d.left = int(d.hdr[3])<<8 | int(d.hdr[4])
			d.body = d.body[:0]
		}
		k := min(len(b), d.left)
		if d.hdr[0] == recordAppData || d.hdr[0] == recordHand {
			d.body = append(d.body, b[:k]...)
		}
		d.left -= k
		b = b[k:]
		if d.left == 0 {
			w.record(d, out)
			d.hn = 0
		}
	}
}

// record looks at one whole record: the suite from the ServerHello, and
// whether an application_data record is protected with the application
// traffic keys.
func (w *Watch) record(d *watchDir, out bool) {
	switch d.hdr[0] {
	case recordHand:
		w.serverHello(d.body)
		return
	case recordAppData:
	default:
		return
	}
	if !d.have {
		w.mu.Lock()
		// A server reads what the client's secret protects; a client
		// (in tests) the server's.
		secret := w.client
		if out != w.isClient {
			secret = w.server
		}
		s := w.suite
		w.mu.Unlock()
		if secret == nil || s == nil {
			return // handshake traffic: the application keys are not out yet
		}
		d.k.set(s, secret)
		d.have = true
	}
	if d.app >= maxWatched {
		w.giveUp()
		return
	}
	aead, err := d.k.cipher()
	if err != nil {
		w.giveUp()
		return
	}
	var nb [ivLen]byte
	data, err := aead.Open(d.body[:0], d.k.nonce(&nb), d.body, d.hdr[:])
	if err != nil {
		if d.app > 0 {
			w.giveUp() // keys changed under us
		}
		return // a record under the handshake keys (a Finished)
	}
	d.k.seq++
	d.app++
	i := len(data) - 1
	for i >= 0 && data[i] == 0 {
		i--
	}
	switch {
	case i < 0:
		w.giveUp()
	case data[i] == recordAppData:
	case data[i] == recordHand && i >= 4 && data[0] == 4:
		// The server's NewSessionTicket: keys unchanged.
	default:
		// A KeyUpdate, an alert: the connection changed in a way the
		// take-over would have to replay.
		w.giveUp()
	}
}

// serverHello notes the cipher suite of the ServerHello in a handshake
// record written by crypto/tls.
func (w *Watch) serverHello(b []byte) {
	// handshake type, length (3), version (2), random (32), session id.
	if len(b) < 39 || b[0] != 2 {
		return
	}
	sid := int(b[38])
	if len(b) < 39+sid+2 {
		return
	}
	id := uint16(b[39+sid])<<8 | uint16(b[40+sid])
	s := suiteByID(id)
	if s == nil {
		w.giveUp() // a TLS 1.2 suite
		return
	}
	w.mu.Lock()
	if w.suite == nil {
		w.suite = s
	}
	w.mu.Unlock()
}

// giveUp turns the Watch into a pass-through for good. Each direction
// drops its own copy at its next call.
func (w *Watch) giveUp() {
	w.bad.Store(true)
	w.mu.Lock()
	w.client, w.server = nil, nil
	w.mu.Unlock()
}

// keyLog receives crypto/tls's key log lines for one connection.
type keyLog struct{ w *Watch }

func (l keyLog) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) != 3 {
		return len(line), nil
	}
	secret, err := hex.DecodeString(string(f[2]))
	if err != nil {
		return len(line), nil
	}
	l.w.mu.Lock()
	switch string(f[0]) {
	case "CLIENT_TRAFFIC_SECRET_0":
		l.w.client = secret
	case "SERVER_TRAFFIC_SECRET_0":
		l.w.server = secret
	}
	l.w.mu.Unlock()
	return len(line), nil
}

// ServerConfig returns a copy of base for a listener whose connections
// are Watches: each handshake gets its own copy of it whose KeyLogWriter
// hands the connection's traffic secrets to its Watch. The secrets go
// nowhere else; they are what the record layer needs after TakeOver, and
// crypto/tls offers no other way to learn them. Session ticket keys set
// on the returned Config later (SetSessionTicketKeys) apply to the
// handshakes that follow.
func ServerConfig(base *tls.Config) *tls.Config {
	c := base.Clone()
	prev := base.GetConfigForClient
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		use := c
		if prev != nil {
			x, err := prev(hello)
			if err != nil {
				return nil, err
			}
			if x != nil {
				use = x
			}
		}
		w := findWatch(hello.Conn)
		if w == nil {
			if use == c {
				return nil, nil
			}
			return use, nil
		}
		cc := use.Clone()
		cc.GetConfigForClient = nil
		cc.KeyLogWriter = keyLog{w}
		return cc, nil
	}
	return c
}

// findWatch finds the Watch under nc, through wrappers that have a
// NetConn method (as tls.Conn has).
func findWatch(nc net.Conn) *Watch {
	for i := 0; i < 8 && nc != nil; i++ {
		if w, ok := nc.(*Watch); ok {
			return w
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
	return nil
}
