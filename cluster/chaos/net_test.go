package chaos_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

var httpClient = &http.Client{Timeout: 3 * time.Second}

func httpGet(url string) (string, int) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return "", 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// link is a TCP relay between one duet node and NATS that can be cut the
// way a network partition cuts: bytes stop moving in both directions and
// new connections hang, but nothing is closed, so each side notices only
// by its own timeouts; when the partition heals, the stalled streams go
// on where they stopped, as TCP's would.
type link struct {
	ln      net.Listener
	backend string

	mu      sync.Mutex
	cut     bool
	healed  chan struct{} // closed when a partition ends
	conns   []net.Conn
	stopped bool
	wg      sync.WaitGroup
}

func newLink(t *testing.T, backend string) *link {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, backend: backend, healed: make(chan struct{})}
	close(l.healed)
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(l.close)
	return l
}

func (l *link) URL() string { return "nats://" + l.ln.Addr().String() }

// partition stops every byte until heal.
func (l *link) partition() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.cut {
		l.cut, l.healed = true, make(chan struct{})
	}
}

func (l *link) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		l.cut = false
		close(l.healed)
	}
}

// gate blocks while the link is cut; false when the link is closing.
func (l *link) gate() bool {
	l.mu.Lock()
	h, stopped := l.healed, l.stopped
	l.mu.Unlock()
	if stopped {
		return false
	}
	<-h
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.stopped
}

func (l *link) close() {
	l.mu.Lock()
	l.stopped = true
	if l.cut {
		l.cut = false
		close(l.healed)
	}
	for _, c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.ln.Close()
	l.wg.Wait()
}

func (l *link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if !l.gate() { // a connection made during a partition hangs
				c.Close()
				return
			}
			s, err := net.Dial("tcp", l.backend)
			if err != nil {
				c.Close()
				return
			}
			l.mu.Lock()
			l.conns = append(l.conns, s)
			l.mu.Unlock()
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.pipe(c, s)
			}()
			l.pipe(s, c)
		}()
	}
}

// pipe copies src to dst, holding the bytes while the link is cut.
func (l *link) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !l.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
