package tlsrec

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

var (
	certOnce sync.Once
	testCert tls.Certificate
)

func cert(t testing.TB) tls.Certificate {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "tlsrec test"},
			DNSNames:     []string{"example.test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return testCert
}

func serverConf(t testing.TB) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert(t)}, MinVersion: tls.VersionTLS12}
}

// clientConf is a crypto/tls client's. Go picks TLS_AES_128_GCM_SHA256
// between two Go ends on AES hardware; the other suites are tested with
// openssl (openssl_test.go) and end to end between two record layers.
func clientConf() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "example.test"}
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { cc.Close(); r.c.Close() })
	return cc, r.c
}

// upgraded is a server connection after an HTTP-like exchange through
// crypto/tls: the client's request line was read, the response written.
type upgraded struct {
	tc     *tls.Conn
	br     *bufio.Reader // what read the request; may hold more
	client *tls.Conn
	gate   *gate // under client
}

// gate is a client's socket whose writes can be held back, for a test
// to send a record's bytes in pieces.
type gate struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	held    []byte
}

func (g *gate) Write(b []byte) (int, error) {
	g.mu.Lock()
	if g.holding {
		g.held = append(g.held, b...)
		g.mu.Unlock()
		return len(b), nil
	}
	g.mu.Unlock()
	return g.Conn.Write(b)
}

func (g *gate) hold() {
	g.mu.Lock()
	g.holding = true
	g.mu.Unlock()
}

// take stops holding and returns what was held.
func (g *gate) take() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.held
	g.holding, g.held = false, nil
	return b
}

// exchange runs the handshake on a Watch and the request/response a
// WebSocket upgrade would: the client writes "GET\n" (and then extra,
// in a record of its own when split), the server reads the line through
// a bufio.Reader of size rbuf and answers "101\n".
func exchange(t testing.TB, scfg, ccfg *tls.Config, extra string, split bool, rbuf int) *upgraded {
	t.Helper()
	craw, sraw := tcpPair(t)
	w := NewWatch(sraw)
	tc := tls.Server(w, ServerConfig(scfg))
	g := &gate{Conn: craw}
	client := tls.Client(g, ccfg)
	errc := make(chan error, 1)
	go func() {
		if err := client.Handshake(); err != nil {
			errc <- err
			return
		}
		req := "GET\n" + extra
		if split {
			if _, err := io.WriteString(client, "GET\n"); err != nil {
				errc <- err
				return
			}
			req = extra
		}
		if req != "" {
			if _, err := io.WriteString(client, req); err != nil {
				errc <- err
				return
			}
		}
		line, err := bufio.NewReader(client).ReadString('\n')
		if err == nil && line != "101\n" {
			err = io.ErrUnexpectedEOF
		}
		errc <- err
	}()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal("server handshake:", err)
	}
	br := bufio.NewReaderSize(tc, rbuf)
	line, err := br.ReadString('\n')
	if err != nil || line != "GET\n" {
		t.Fatalf("request: %q %v", line, err)
	}
	if _, err := io.WriteString(tc, "101\n"); err != nil {
		t.Fatal(err)
	}
	tc.SetDeadline(time.Time{})
	if err := <-errc; err != nil {
		t.Fatal("client:", err)
	}
	return &upgraded{tc: tc, br: br, client: client, gate: g}
}

// takeOver takes u's server side over and returns it with every byte the
// application had not read yet (bufio's and crypto/tls's).
func (u *upgraded) takeOver(t testing.TB, pool *Pool) (*Conn, string) {
	t.Helper()
	buffered, _ := u.br.Peek(u.br.Buffered())
	c, early, err := TakeOver(u.tc, pool)
	if err != nil {
		t.Fatal("take-over:", err)
	}
	return c, string(buffered) + string(early)
}

// readN reads exactly n bytes from r with reads of at most chunk bytes.
func readN(r io.Reader, n, chunk int) ([]byte, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, chunk)
	for len(out) < n {
		k, err := r.Read(buf[:min(chunk, n-len(out))])
		out = append(out, buf[:k]...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>8)
	}
	return b
}
