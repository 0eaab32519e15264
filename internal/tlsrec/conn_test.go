package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// sealInner seals content as a record of inner content type typ with pad
// zero bytes of padding: what a peer may send that Write never does
// (tests only).
func (c *Conn) sealInner(typ byte, content []byte, pad int) []byte {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	aead, err := c.out.cipher()
	if err != nil {
		panic(err)
	}
	inner := append(append(append([]byte(nil), content...), typ), make([]byte, pad)...)
	n := len(inner) + aead.Overhead()
	rec := []byte{recordAppData, 3, 3, byte(n >> 8), byte(n)}
	var nb [ivLen]byte
	rec = append(rec, aead.Seal(nil, c.out.nonce(&nb), inner, rec)...)
	c.out.seq++
	return rec
}

func (c *Conn) writeInner(typ byte, content []byte, pad int) error {
	_, err := c.raw.Write(c.sealInner(typ, content, pad))
	return err
}

// sendKeyUpdate sends a KeyUpdate and moves to the next write keys, as a
// peer that rotates its keys does (tests only).
func (c *Conn) sendKeyUpdate(requested bool) error {
	var r byte
	if requested {
		r = 1
	}
	if err := c.writeInner(recordHand, []byte{typeKeyUpdate, 0, 0, 1, r}, 0); err != nil {
		return err
	}
	c.wmu.Lock()
	c.out.update()
	c.wmu.Unlock()
	return nil
}

// clientTakeOver runs a crypto/tls client on a Watch, reads the server's
// first line and takes the client over too, so that a test can send what
// crypto/tls would never send.
func clientTakeOver(t testing.TB, craw net.Conn, pool *Pool) (*Conn, func()) {
	t.Helper()
	w := NewWatch(craw)
	w.isClient = true
	cfg := clientConf()
	cfg.KeyLogWriter = keyLog{w}
	tc := tls.Client(w, cfg)
	if _, err := io.WriteString(tc, "hello\n"); err != nil {
		t.Fatal(err)
	}
	line, err := readN(tc, 3, 3)
	if err != nil || string(line) != "ok\n" {
		t.Fatalf("client read %q %v", line, err)
	}
	c, early, err := TakeOver(tc, pool)
	if err != nil || len(early) != 0 {
		t.Fatalf("client take-over: %v (early %q)", err, early)
	}
	return c, func() {}
}

func TestEchoAfterTakeOver(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tickets bool
		sizes   []int
		chunk   int
	}{
		{"small messages, small reads", true, []int{1, 5, 100, 300}, 7},
		{"record-sized and larger", true, []int{16383, 16384, 16385, 70000}, 4096},
		{"no session tickets", false, []int{10, 20000}, 1 << 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scfg := serverConf(t)
			scfg.SessionTicketsDisabled = !tc.tickets
			u := exchange(t, scfg, clientConf(), "", false, 4096)
			pool := NewPool()
			c, early := u.takeOver(t, pool)
			defer c.Close()
			if early != "" {
				t.Fatalf("early %q", early)
			}
			if got := u.client.ConnectionState().Version; got != tls.VersionTLS13 {
				t.Fatalf("version %x", got)
			}
			go func() {
				for i, n := range tc.sizes {
					u.client.Write(pattern(n, byte(i)))
				}
			}()
			for i, n := range tc.sizes {
				got, err := readN(c, n, tc.chunk)
				if err != nil || !bytes.Equal(got, pattern(n, byte(i))) {
					t.Fatalf("message %d (%d bytes): %d bytes, %v", i, n, len(got), err)
				}
				c.Park()
				if _, err := c.Write(got); err != nil {
					t.Fatal(err)
				}
				back, err := readN(u.client, n, 1<<16)
				if err != nil || !bytes.Equal(back, got) {
					t.Fatalf("echo %d: %d bytes, %v", i, len(back), err)
				}
			}
		})
	}
}

// TestEarlyBytes: application data crypto/tls decrypted before the
// take-over (read ahead by the bufio.Reader, or left in crypto/tls's
// record when the reader asked for less) is handed back, nothing lost or
// repeated, and what follows comes through the record layer.
func TestEarlyBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		split bool
		rbuf  int
	}{
		{"same record as the request", false, 16},
		{"a record of its own", true, 16},
		{"read ahead whole", false, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := string(pattern(300, 9))
			u := exchange(t, serverConf(t), clientConf(), extra, tc.split, tc.rbuf)
			c, early := u.takeOver(t, NewPool())
			defer c.Close()
			rest, err := readN(c, len(extra)-len(early), 64)
			if err != nil || early+string(rest) != extra {
				t.Fatalf("early %d bytes + %d read (%v): not the bytes sent", len(early), len(rest), err)
			}
			go io.WriteString(u.client, "after")
			got, err := readN(c, 5, 64)
			if err != nil || string(got) != "after" {
				t.Fatalf("then %q %v", got, err)
			}
		})
	}
}

// TestParkedReadsNextRecord: a parked connection holds no buffer and no
// cipher, and reads what arrives after parking, including a message
// split over records and a record split over TCP segments.
func TestParkedReadsNextRecord(t *testing.T) {
	u := exchange(t, serverConf(t), clientConf(), "", false, 4096)
	c, _ := u.takeOver(t, NewPool())
	defer c.Close()
	c.Park()
	if c.rbuf != nil || c.in.aead != nil || c.out.aead != nil || c.Pending() {
		t.Fatal("a parked connection still holds a buffer or a cipher")
	}
	go func() {
		io.WriteString(u.client, "one")
	}()
	if got, err := readN(c, 3, 100); err != nil || string(got) != "one" {
		t.Fatalf("%q %v", got, err)
	}
	c.Park()
	// "two-parts" in two records; the second record in two TCP writes
	// with the connection parked in between.
	u.client.Write([]byte("two-"))
	if got, err := readN(c, 4, 100); err != nil || string(got) != "two-" {
		t.Fatalf("%q %v", got, err)
	}
	c.Park()
	u.gate.hold()
	u.client.Write([]byte("parts"))
	whole := u.gate.take()
	if len(whole) < headerLen+5 {
		t.Fatalf("captured %d bytes", len(whole))
	}
	u.gate.Conn.Write(whole[:3])
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 10)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of a partial record: %d %v", n, err)
	}
	c.SetReadDeadline(time.Time{})
	c.Park()
	if c.rbuf != nil || len(c.rest) != 3 {
		t.Fatalf("parked with a partial header: buffer %v, rest %d", c.rbuf != nil, len(c.rest))
	}
	u.gate.Conn.Write(whole[3:])
	if got, err := readN(c, 5, 100); err != nil || string(got) != "parts" {
		t.Fatalf("%q %v", got, err)
	}
}

// TestKeyUpdate: a KeyUpdate asking for ours is answered, both sides move
// to new keys, and data flows on — between two record layers, from a
// record layer to crypto/tls (which answers) and from crypto/tls's
// answer back, and from our KeyUpdate to a crypto/tls client.
func TestKeyUpdate(t *testing.T) {
	t.Run("record layer to record layer", func(t *testing.T) {
		pool := NewPool()
		craw, sraw := tcpPair(t)
		srv := make(chan *Conn, 1)
		go func() {
			w := NewWatch(sraw)
			tc := tls.Server(w, ServerConfig(serverConf(t)))
			if _, err := readN(tc, 6, 6); err != nil {
				t.Error(err)
			}
			io.WriteString(tc, "ok\n")
			c, _, err := TakeOver(tc, pool)
			if err != nil {
				t.Error(err)
			}
			srv <- c
		}()
		cl, _ := clientTakeOver(t, craw, pool)
		s := <-srv
		if s == nil {
			t.FailNow()
		}
		for round := 0; round < 3; round++ {
			if err := cl.sendKeyUpdate(round%2 == 0); err != nil {
				t.Fatal(err)
			}
			cl.Write([]byte("after update"))
			if got, err := readN(s, 12, 100); err != nil || string(got) != "after update" {
				t.Fatalf("round %d: server read %q %v", round, got, err)
			}
			seq := cl.in.seq
			s.Write([]byte("reply"))
			if got, err := readN(cl, 5, 100); err != nil || string(got) != "reply" {
				t.Fatalf("round %d: client read %q %v", round, got, err)
			}
			// Asked, the server answered with a KeyUpdate before its reply:
			// the reply is the first record under its new keys.
			if want := map[bool]uint64{true: 1, false: seq + 1}[round%2 == 0]; cl.in.seq != want {
				t.Fatalf("round %d: client read sequence %d, want %d", round, cl.in.seq, want)
			}
		}
	})
	t.Run("record layer client, crypto/tls server", func(t *testing.T) {
		craw, sraw := tcpPair(t)
		done := make(chan error, 1)
		go func() {
			tc := tls.Server(sraw, serverConf(t))
			if _, err := readN(tc, 6, 6); err != nil {
				done <- err
				return
			}
			io.WriteString(tc, "ok\n")
			got, err := readN(tc, 4, 4)
			if err == nil && string(got) != "next" {
				err = errors.New("crypto/tls read " + string(got))
			}
			if err == nil {
				_, err = io.WriteString(tc, "answer")
			}
			done <- err
		}()
		cl, _ := clientTakeOver(t, craw, NewPool())
		if err := cl.sendKeyUpdate(true); err != nil {
			t.Fatal(err)
		}
		cl.Write([]byte("next"))
		if err := <-done; err != nil {
			t.Fatal("crypto/tls server:", err)
		}
		if got, err := readN(cl, 6, 100); err != nil || string(got) != "answer" {
			t.Fatalf("after crypto/tls's KeyUpdate: %q %v", got, err)
		}
		if cl.in.seq != 1 {
			t.Fatalf("read keys not updated (seq %d)", cl.in.seq)
		}
	})
	t.Run("record layer server, crypto/tls client", func(t *testing.T) {
		u := exchange(t, serverConf(t), clientConf(), "", false, 4096)
		c, _ := u.takeOver(t, NewPool())
		defer c.Close()
		if err := c.sendKeyUpdate(false); err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("fresh keys"))
		if got, err := readN(u.client, 10, 100); err != nil || string(got) != "fresh keys" {
			t.Fatalf("crypto/tls client read %q %v", got, err)
		}
	})
}

func TestCloseAndEOF(t *testing.T) {
	t.Run("close_notify from the server", func(t *testing.T) {
		u := exchange(t, serverConf(t), clientConf(), "", false, 4096)
		c, _ := u.takeOver(t, NewPool())
		c.Write([]byte("bye"))
		c.Close()
		got, err := io.ReadAll(u.client)
		if err != nil || string(got) != "bye" {
			t.Fatalf("client read %q %v (want bye and a clean EOF)", got, err)
		}
	})
	t.Run("CloseWrite: close_notify and a FIN, reading goes on", func(t *testing.T) {
		u := exchange(t, serverConf(t), clientConf(), "", false, 4096)
		c, _ := u.takeOver(t, NewPool())
		defer c.Close()
		c.Write([]byte("last words"))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(u.client)
		if err != nil || string(got) != "last words" {
			t.Fatalf("client read %q %v (want the data and a clean EOF)", got, err)
		}
		// The socket's write side is shut too: nothing follows close_notify.
		u.gate.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := u.gate.Conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("after close_notify the socket gave %d bytes, %v; want a FIN", n, err)
		}
		if _, err := c.Write([]byte("more")); err == nil {
			t.Fatal("a write after CloseWrite succeeded")
		}
		u.client.Write([]byte("late"))
		u.client.Close()
		got, err = readN(c, 5, 10)
		if string(got) != "late" || err != io.EOF {
			t.Fatalf("server read %q %v after CloseWrite (want the peer's bytes, then EOF)", got, err)
		}
	})
	t.Run("close_notify from the client", func(t *testing.T) {
		u := exchange(t, serverConf(t), clientConf(), "", false, 4096)
		c, _ := u.takeOver(t, NewPool())
		defer c.Close()
		u.client.Write([]byte("bye"))
		u.client.Close()
		got, err := readN(c, 4, 10)
		if string(got) != "bye" || err != io.EOF {
			t.Fatalf("server read %q %v", got, err)
		}
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("EOF is not sticky: %v", err)
		}
	})
	t.Run("TCP closed between records and within one", func(t *testing.T) {
		for _, cut := range []int{0, 3, 10} {
			u := exchange(t, serverConf(t), clientConf(), "", false, 4096)
			c, _ := u.takeOver(t, NewPool())
			u.gate.hold()
			u.client.Write([]byte("partial"))
			rec := u.gate.take()
			u.gate.Conn.Write(rec[:cut])
			u.gate.Conn.(*net.TCPConn).CloseWrite()
			_, err := c.Read(make([]byte, 10))
			want := io.ErrUnexpectedEOF
			if cut == 0 {
				want = io.EOF
			}
			if err != want {
				t.Fatalf("cut after %d bytes: %v, want %v", cut, err, want)
			}
			c.Close()
		}
	})
}

// TestTamperedRecord: a changed byte fails the record, for good, and the
// client hears bad_record_mac as it would from crypto/tls.
func TestTamperedRecord(t *testing.T) {
	u := exchange(t, serverConf(t), clientConf(), "", false, 4096)
	c, _ := u.takeOver(t, NewPool())
	defer c.Close()
	u.gate.hold()
	u.client.Write([]byte("tampered"))
	rec := u.gate.take()
	rec[len(rec)-3] ^= 1
	u.gate.Conn.Write(rec)
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("read %v, want ErrBadRecord", err)
	}
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("second read %v: the error is not final", err)
	}
	_, err := u.client.Read(make([]byte, 10))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("bad record MAC")) {
		t.Fatalf("client got %v, want the bad_record_mac alert", err)
	}
}

// TestReadTimeoutKeepsConnection: a read deadline, as the WebSocket
// engine sets to wake its reader, does not spoil the connection.
func TestReadTimeoutKeepsConnection(t *testing.T) {
	u := exchange(t, serverConf(t), clientConf(), "", false, 4096)
	c, _ := u.takeOver(t, NewPool())
	defer c.Close()
	c.SetReadDeadline(time.Unix(1, 0))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Time{})
	u.client.Write([]byte("still here"))
	if got, err := readN(c, 10, 100); err != nil || string(got) != "still here" {
		t.Fatalf("%q %v", got, err)
	}
}

// TestTLS12StaysWithCryptoTLS: a TLS 1.2 connection is not taken over and
// works on through crypto/tls, the Watch passing bytes through.
func TestTLS12StaysWithCryptoTLS(t *testing.T) {
	cc := clientConf()
	cc.MaxVersion = tls.VersionTLS12
	u := exchange(t, serverConf(t), cc, "", false, 4096)
	if _, _, err := TakeOver(u.tc, NewPool()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("take-over of TLS 1.2: %v", err)
	}
	go u.client.Write(pattern(40000, 1))
	if got, err := readN(u.tc, 40000, 1<<16); err != nil || !bytes.Equal(got, pattern(40000, 1)) {
		t.Fatalf("crypto/tls read %d bytes %v", len(got), err)
	}
	u.tc.Write([]byte("fine"))
	if got, err := readN(u.client, 4, 10); err != nil || string(got) != "fine" {
		t.Fatalf("%q %v", got, err)
	}
}
