package ws

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/internal/tlsrec"
)

// serveTLS is serve over wss://: each upgraded socket is taken over from
// crypto/tls by package tlsrec, as the server does.
func serveTLS(t *testing.T, o Options) (*Engine, string, <-chan *recorder) {
	t.Helper()
	o.MaxMessageBytes, o.SendQueueBytes = 1<<20, 1<<20
	o.PingInterval, o.IdleTimeout, o.WriteTimeout = time.Hour, 2*time.Hour, 5*time.Second
	e := NewEngine(o)
	pool := tlsrec.NewPool()
	conns := make(chan *recorder, 1024)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, early, err := Upgrade(w, r, time.Second)
		if err != nil {
			return
		}
		tc := nc.(*tls.Conn)
		var c net.Conn = tc
		var more []byte
		if tc.ConnectionState().Version != tls.VersionTLS12 {
			// TLS 1.2 stays with crypto/tls, as in the server.
			c, more, err = tlsrec.TakeOver(tc, pool)
		}
		if err != nil {
			t.Errorf("take-over: %v", err)
			nc.Close()
			return
		}
		rec := &recorder{closed: make(chan struct{})}
		rec.onMsg = func(r *recorder, p []byte) { r.c.Send(p) } // echo
		rec.c.Start(e, c, append(early, more...), rec)
		conns <- rec
	}))
	ts.Listener = tls.NewListener(watchListener{ts.Listener}, tlsrec.ServerConfig(&tls.Config{Certificates: []tls.Certificate{testCert(t)}}))
	ts.Start()
	t.Cleanup(func() { ts.Close(); e.Close() })
	return e, "wss://" + ts.Listener.Addr().String(), conns
}

type watchListener struct{ net.Listener }

func (l watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tlsrec.NewWatch(c), nil
}

func testCert(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ws test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// parkedIdle reports whether r's socket is parked with its record layer
// holding no buffer and no cipher.
func parkedIdle(r *recorder) bool {
	r.c.mu.Lock() // no reader starts meanwhile
	defer r.c.mu.Unlock()
	l, ok := r.c.lay.(*tlsrec.Conn)
	return r.c.parked && !r.c.writing && ok && l.Idle()
}

// TestTLSSocketsPark: wss:// sockets park like plain ones — no goroutine,
// no buffer, no cipher — and wake when records arrive.
func TestTLSSocketsPark(t *testing.T) {
	e, url, conns := serveTLS(t, Options{Linger: time.Millisecond})
	if !e.Polling() {
		t.Skip("no poller on this system") // the fallback is covered by TestFallback
	}
	d := websocket.Dialer{TLSClientConfig: insecure()}
	const n = 20
	cs := make([]*websocket.Conn, n)
	recs := make([]*recorder, n)
	for i := range cs {
		c, _, err := d.Dial(url+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs[i], recs[i] = c, <-conns
	}
	for range 5 {
		for _, c := range cs {
			echo(t, c, strings.Repeat("round ", 500)) // past the small buffers
		}
		waitFor(t, "every socket parked", func() bool {
			for _, r := range recs {
				if !parkedIdle(r) {
					return false
				}
			}
			return true
		})
	}
}

// TestTLSParkedReadsLateAndSplitMessages: a parked wss:// socket reads a
// message that arrives after it parked, and one whose frame is split over
// two TLS records with the socket parked between them.
func TestTLSParkedReadsLateAndSplitMessages(t *testing.T) {
	_, url, conns := serveTLS(t, Options{Linger: time.Millisecond})
	raw, err := net.Dial("tcp", strings.TrimPrefix(url, "wss://"))
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	defer c.Close()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	r := <-conns
	waitFor(t, "the socket parked", func() bool { return parkedIdle(r) })

	frame := maskedText("arrived after parking")
	c.Write(frame) // one record
	readEcho(t, br, "arrived after parking")
	waitFor(t, "the socket parked again", func() bool { return parkedIdle(r) })

	frame = maskedText(strings.Repeat("split over two records ", 100))
	c.Write(frame[:700]) // the header and part of the payload
	waitFor(t, "the socket parked on part of a frame", func() bool { return parkedIdle(r) })
	c.Write(frame[700:])
	readEcho(t, br, strings.Repeat("split over two records ", 100))
}

func maskedText(s string) []byte {
	mask := [4]byte{1, 2, 3, 4}
	f := []byte{0x81}
	if len(s) < 126 {
		f = append(f, 0x80|byte(len(s)))
	} else {
		f = append(f, 0x80|126, byte(len(s)>>8), byte(len(s)))
	}
	f = append(f, mask[:]...)
	for i := range len(s) {
		f = append(f, s[i]^mask[i%4])
	}
	return f
}

func readEcho(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		io.ReadFull(br, h[2:4])
		n = int(binary.BigEndian.Uint16(h[2:4]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil || h[0] != 0x81 || string(p) != want {
		t.Fatalf("echo: %x %q %v", h[0], p, err)
	}
}

func insecure() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }
