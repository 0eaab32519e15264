package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// FuzzAgainstCryptoTLS sends the same sequence of records, built from the
// fuzz input, to two servers — crypto/tls, and crypto/tls taken over by
// the record layer — and checks that both deliver the same bytes and end
// the same way (a clean EOF, a truncated stream, or an error). The
// records are what a peer may send, not only what crypto/tls writes:
// application data of any size and padding, empty records, alerts,
// KeyUpdates good and bad, change_cipher_spec inside and outside the
// encryption, handshake fragments, unknown content types, oversized
// plaintext, a changed byte, a bad record header, and the stream cut
// anywhere. The client is a record layer itself (taken over from a
// crypto/tls client), since crypto/tls would send none of the odd ones.
//
//	go test ./internal/tlsrec -run '^$' -fuzz FuzzAgainstCryptoTLS -fuzztime 5m
func FuzzAgainstCryptoTLS(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 1, 0, 3, 0, 0, 0, 0},                       // one record, EOF
		{0, 0, 40, 5, 0, 3, 1, 0, 0, 9, 0, 1},          // data, KeyUpdate asked, data
		{0, 2, 1, 0},                                   // close_notify
		{0, 2, 2, 40},                                  // a fatal alert
		{0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},  // many empty records
		{0, 6, 3, 24, 0, 0, 6, 1, 0, 5},                // a KeyUpdate split over records
		{1, 9, 0, 1, 0, 9},                             // a changed byte
		{0, 7, 20, 1, 1, 7, 99, 0, 5, 1},               // protected CCS, unknown type
		{0, 8, 3, 3},                                   // oversized plaintext
		{0, 10, 3, 0, 1, 0},                            // a record cut short
		{0, 11, 0},                                     // a bad record version
		{3, 0, 200, 0, 0, 0, 80, 0, 0, 4, 2, 1, 0, 70}, // big records, small reads
	} {
		f.Add(seed)
	}
	cfg := serverConf(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 600 {
			return
		}
		want := runServer(t, in, cfg, false)
		got := runServer(t, in, cfg, true)
		if got.class != want.class || !bytes.Equal(got.data, want.data) {
			t.Fatalf("crypto/tls: %d bytes then %s (%v)\nrecord layer: %d bytes then %s (%v)",
				len(want.data), want.class, want.err, len(got.data), got.class, got.err)
		}
	})
}

// outcome is what a server read from the client: bytes, then how the
// stream ended.
type outcome struct {
	data  []byte
	class string // eof, truncated or error
	err   error
}

// fuzzInput reads the fuzz input a byte at a time, zeros past its end.
type fuzzInput struct{ b []byte }

func (f *fuzzInput) next() byte {
	if len(f.b) == 0 {
		return 0
	}
	x := f.b[0]
	f.b = f.b[1:]
	return x
}

func (f *fuzzInput) more() bool { return len(f.b) > 0 }

// runServer plays the input's records to one server and returns what it
// read.
func runServer(t *testing.T, in []byte, cfg *tls.Config, takeOver bool) outcome {
	pool := NewPool()
	craw, sraw := tcpPair(t)
	deadline := time.Now().Add(10 * time.Second)
	sraw.SetDeadline(deadline)
	craw.SetDeadline(deadline)
	fz := &fuzzInput{in}
	chunk := 1 + int(fz.next())*67 // the server's read size
	res := make(chan outcome, 1)
	go func() {
		var r io.Reader
		if takeOver {
			tc := tls.Server(NewWatch(sraw), ServerConfig(cfg))
			if _, err := readN(tc, 6, 6); err != nil {
				res <- outcome{class: "setup", err: err}
				return
			}
			io.WriteString(tc, "ok\n")
			c, early, err := TakeOver(tc, pool)
			if err != nil || len(early) > 0 {
				res <- outcome{class: "setup", err: fmt.Errorf("take-over: %w (early %q)", err, early)}
				return
			}
			r = c
		} else {
			tc := tls.Server(sraw, cfg)
			if _, err := readN(tc, 6, 6); err != nil {
				res <- outcome{class: "setup", err: err}
				return
			}
			io.WriteString(tc, "ok\n")
			r = tc
		}
		var o outcome
		buf := make([]byte, chunk)
		for {
			n, err := r.Read(buf)
			o.data = append(o.data, buf[:n]...)
			if err != nil {
				o.err = err
				switch {
				case err == io.EOF:
					o.class = "eof"
				case err == io.ErrUnexpectedEOF:
					o.class = "truncated"
				case errors.Is(err, os.ErrDeadlineExceeded):
					o.class = "hung"
				default:
					o.class = "error"
				}
				res <- o
				return
			}
		}
	}()
	cl, _ := clientTakeOver(t, craw, pool)
	play(cl, fz)
	o := <-res
	if o.class == "setup" || o.class == "hung" {
		t.Fatalf("take-over %v: %s: %v", takeOver, o.class, o.err)
	}
	return o
}

// play writes the records the input describes, then ends the stream.
func play(cl *Conn, fz *fuzzInput) {
	raw := cl.raw
	corrupt := false
	send := func(rec []byte) {
		if corrupt && len(rec) > headerLen {
			rec[len(rec)-1] ^= 0x40
			corrupt = false
		}
		raw.Write(rec)
	}
	for fz.more() {
		switch op := fz.next() % 12; op {
		case 0: // application data
			n := int(fz.next())<<6 | int(fz.next()%64)
			send(cl.sealInner(recordAppData, pattern(n, op), int(fz.next())))
		case 1: // an empty record, maybe padded
			send(cl.sealInner(recordAppData, nil, int(fz.next()%4)))
		case 2: // an alert
			send(cl.sealInner(recordAlert, []byte{fz.next(), fz.next()}, 0))
		case 3: // a KeyUpdate
			req := fz.next() & 1
			send(cl.sealInner(recordHand, []byte{typeKeyUpdate, 0, 0, 1, req}, 0))
			cl.out.update()
		case 4: // a malformed KeyUpdate or another handshake message
			body := []byte{fz.next(), 0, 0, 2, fz.next(), fz.next()}
			send(cl.sealInner(recordHand, body, 0))
		case 5: // change_cipher_spec in the clear
			send([]byte{recordTypeCCS, 3, 3, 0, 1, fz.next() % 3})
		case 6: // a handshake fragment: up to 7 bytes of a message
			k := int(fz.next() % 8)
			frag := make([]byte, 0, k)
			for i := 0; i < k; i++ {
				frag = append(frag, fz.next())
			}
			send(cl.sealInner(recordHand, frag, 0))
		case 7: // any inner content type
			typ := fz.next()
			send(cl.sealInner(typ, []byte{fz.next()}, int(fz.next()%3)))
		case 8: // plaintext over the limit
			send(cl.sealInner(recordAppData, pattern(maxPlaintext-2+int(fz.next()%4), 1), int(fz.next()%4)))
		case 9: // the next record gets a changed byte
			corrupt = true
		case 10: // a record cut short, and the end of the stream
			rec := cl.sealInner(recordAppData, pattern(20, 2), 0)
			raw.Write(rec[:int(fz.next())%len(rec)])
			raw.(*net.TCPConn).CloseWrite()
			return
		case 11: // a header with a bad version or length
			raw.Write([]byte{recordAppData, 3, fz.next() % 5, fz.next(), fz.next()})
		}
	}
	if len(fz.b) == 0 && corrupt {
		// An unused corruption ends the stream with close_notify.
		send(cl.sealInner(recordAlert, []byte{alertLevelWarn, alertCloseNotify}, 0))
	}
	raw.(*net.TCPConn).CloseWrite()
}
