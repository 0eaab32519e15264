package ws

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBrokenStreamEndsWithFIN: when the peer's stream can no longer be
// parsed, the server sends its close frame and, once the peer's next bytes
// arrive, ends its side with a FIN and reads and drops until the peer
// closes too — on ws:// and on wss:// (the record layer's CloseWrite, and
// crypto/tls's where the record layer cannot take over: TLS 1.2). A
// server that closed at once would answer the peer's bytes still in flight
// with a reset, which can destroy its close frame before the peer reads it.
func TestBrokenStreamEndsWithFIN(t *testing.T) {
	for _, k := range []struct {
		name  string
		serve func(*testing.T, Options) (*Engine, string, <-chan *recorder)
	}{{"ws", serve}, {"wss", serveTLS}, {"wss-tls12", serveTLS}} {
		t.Run(k.name, func(t *testing.T) {
			_, url, conns := k.serve(t, Options{CloseGrace: 30 * time.Second})
			addr := url[strings.Index(url, "//")+2:]
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var c net.Conn = raw
			switch k.name {
			case "wss":
				c = tls.Client(raw, insecure())
			case "wss-tls12":
				cfg := insecure()
				cfg.MaxVersion = tls.VersionTLS12
				c = tls.Client(raw, cfg)
			}
			io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			r := <-conns

			// An unmasked frame: a protocol error, after which the server
			// cannot find the frames in what follows.
			c.Write([]byte{0x81, 5, 'h', 'e', 'l', 'l', 'o'})
			raw.SetReadDeadline(time.Now().Add(10 * time.Second))
			var h [2]byte
			if _, err := io.ReadFull(br, h[:]); err != nil || h[0] != 0x88 || h[1] < 2 || h[1] > 125 {
				t.Fatalf("close frame header: %x %v", h, err)
			}
			p := make([]byte, h[1])
			if _, err := io.ReadFull(br, p); err != nil || int(p[0])<<8|int(p[1]) != CloseProtocolError {
				t.Fatalf("close frame: %x %v (want 1002)", p, err)
			}
			// The rest of what the peer was sending arrives after the close
			// frame, and the server's side ends with a FIN (close_notify
			// first on wss://). It does so at a read that finds the close
			// frame written, which the first bytes may beat: the peer goes on
			// sending until the end comes.
			ended := make(chan error, 1)
			go func() {
				rest, err := io.ReadAll(br)
				if err == nil && len(rest) > 0 {
					err = fmt.Errorf("bytes after the close frame: %q", rest)
				}
				ended <- err
			}()
			for end := false; !end; {
				c.Write(maskedText("sent before the close frame was read"))
				select {
				case err := <-ended:
					if err != nil {
						t.Fatal("after the close frame:", err)
					}
					end = true
				case <-time.After(20 * time.Millisecond):
				}
			}
			// The socket itself saw the FIN (a read of it ends), also where
			// crypto/tls sent the close_notify.
			var one [1]byte
			if n, err := raw.Read(one[:]); n != 0 || err != io.EOF {
				t.Fatalf("the server's side did not end with a FIN: read %d, %v", n, err)
			}
			// ...and what comes after that is read and dropped, not reset.
			if _, err := c.Write(maskedText("still on its way")); err != nil {
				t.Fatal(err)
			}
			// The peer is done too. Its FIN only (on wss:// no close_notify:
			// a write would report, and so clear, the error a reset left).
			raw.(*net.TCPConn).CloseWrite()
			waitClosed(t, r)
			// A reset after the peer's FIN is not seen by a read (it returns
			// EOF), but it leaves an error on the socket.
			if err := sockErr(raw); err != nil {
				t.Fatalf("the server answered the late bytes with a reset (%v)", err)
			}
		})
	}
}

// sockErr is the error pending on a TCP socket (SO_ERROR).
func sockErr(c net.Conn) error {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var soErr int
	if err := rc.Control(func(fd uintptr) {
		soErr, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
	}); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if soErr != 0 {
		return syscall.Errno(soErr)
	}
	return nil
}
