package server_test

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// BenchmarkRelay measures one pair relaying takeCandidate messages through
// a real server: the sender writes as fast as it can, and the benchmark
// ends when the receiver has read them all. Run it with
//
//	go test -run XXX -bench Relay -benchtime 200000x ./server
func BenchmarkRelay(b *testing.B) {
	c := config.Default()
	c.RateLimit = 0
	s := testserver.Start(b, c, server.Options{})
	url := s.URL("bench")
	dial := func() *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		return ws
	}
	a, r := dial(), dial()
	defer a.Close()
	defer r.Close()
	a.WriteMessage(websocket.TextMessage, []byte(`{"command":"join","streamId":"bench"}`))
	a.ReadMessage()
	r.WriteMessage(websocket.TextMessage, []byte(`{"command":"join","streamId":"bench"}`))
	r.ReadMessage()
	a.ReadMessage() // start

	msg := []byte(`{"command":"takeCandidate","streamId":"bench","label":0,"id":"0","candidate":"candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0"}`)
	// The sender writes raw masked frames through a buffered writer so the
	// client is not the bottleneck.
	conn := a.NetConn()
	frame := maskedFrame(msg)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(conn, 64<<10)
		for range b.N {
			if _, err := w.Write(frame); err != nil {
				done <- err
				return
			}
		}
		done <- w.Flush()
	}()
	for i := range b.N {
		_, p, err := r.ReadMessage()
		if err != nil {
			b.Fatalf("message %d: %v", i, err)
		}
		if i == 0 && !strings.Contains(string(p), "takeCandidate") {
			b.Fatalf("got %s", p)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// maskedFrame builds a client text frame with a zero mask key.
func maskedFrame(p []byte) []byte {
	var h []byte
	switch n := len(p); {
	case n < 126:
		h = []byte{0x81, 0x80 | byte(n)}
	case n <= 0xFFFF:
		h = []byte{0x81, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		panic(fmt.Sprint("frame too long: ", n))
	}
	h = append(h, 0, 0, 0, 0)
	return append(h, p...)
}
