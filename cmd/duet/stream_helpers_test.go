package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/syncbuf"
)

// feedNumbered writes the lines "0\n", "1\n", … to w, one every interval,
// until stop is closed; then it closes w (the end of the peer's stdin).
func feedNumbered(w io.WriteCloser, every time.Duration, stop <-chan struct{}) (sent func() int) {
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			if _, err := fmt.Fprintf(w, "%d\n", i); err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
		}
	}()
	return func() int {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// lines follows a numbered stream on a peer's stdout: every line must be
// the next number. It records when each arrived.
type lines struct {
	mu    sync.Mutex
	next  int
	times []time.Time
	err   error
	done  chan struct{}
}

func readNumbered(r io.Reader) *lines {
	l := &lines{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			now := time.Now()
			l.mu.Lock()
			if sc.Text() != strconv.Itoa(l.next) && l.err == nil {
				l.err = fmt.Errorf("line %q, want %d: lost or reordered", sc.Text(), l.next)
			}
			l.next++
			l.times = append(l.times, now)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *lines) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// waitCount waits until n lines have arrived.
func (l *lines) waitCount(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for l.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d lines arrived", l.count(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gapSince is the longest time between two lines that arrived after t0
// (counting from t0 to the first of them).
func (l *lines) gapSince(t0 time.Time) time.Duration {
	d, _ := l.gapAt(t0)
	return d
}

// gapAt is gapSince with the time the longest gap ended.
func (l *lines) gapAt(t0 time.Time) (time.Duration, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	var end time.Time
	prev := t0
	for _, at := range l.times {
		if at.Before(t0) {
			continue
		}
		if at.Sub(prev) > longest {
			longest, end = at.Sub(prev), at
		}
		prev = at
	}
	return longest, end
}

// streamPeer is a `duet peer` process fed a numbered stream.
type streamPeer struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	out    *lines
	sent   func() int
	exit   chan error
}

// startStreamPeer runs argv (a duet peer command line, possibly under ip
// netns exec) with a numbered stream on stdin every interval until stop.
func startStreamPeer(t *testing.T, name string, argv []string, every time.Duration, stop <-chan struct{}) *streamPeer {
	t.Helper()
	p := &streamPeer{name: name, cmd: exec.Command(argv[0], argv[1:]...), stderr: &syncbuf.Buffer{}, exit: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	in, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.out = readNumbered(out)
	p.sent = feedNumbered(in, every, stop)
	waited := make(chan struct{})
	go func() {
		<-p.out.done // read everything before Wait closes the pipe
		err := p.cmd.Wait()
		close(waited)
		p.exit <- err
	}()
	t.Cleanup(func() {
		select {
		case <-waited:
		default:
			p.cmd.Process.Kill()
			<-waited
		}
	})
	return p
}

// events are the peer's --json events.
func (p *streamPeer) events() []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(p.stderr.String()) {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil {
			out = append(out, ev)
		}
	}
	return out
}

// count is how many events match.
func (p *streamPeer) count(ok func(map[string]any) bool) int {
	n := 0
	for _, ev := range p.events() {
		if ok(ev) {
			n++
		}
	}
	return n
}

func kind(k string) func(map[string]any) bool {
	return func(ev map[string]any) bool { return ev["event"] == k }
}

// waitEvents waits until at least n events match.
func (p *streamPeer) waitEvents(t *testing.T, what string, n int, ok func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.count(ok) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s; events:\n%s", p.name, what, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish waits for the peer to exit 0 having received the partner's whole
// stream.
func (p *streamPeer) finish(t *testing.T, partnerSent int) {
	t.Helper()
	select {
	case err := <-p.exit:
		if err != nil {
			t.Fatalf("%s: %v\n%s", p.name, err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit:\n%s", p.name, p.stderr.String())
	}
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	if p.out.err != nil {
		t.Fatalf("%s: %v", p.name, p.out.err)
	}
	if p.out.next != partnerSent {
		t.Fatalf("%s received %d lines, the partner sent %d", p.name, p.out.next, partnerSent)
	}
}

// onePeerConnection checks the peer negotiated a single PeerConnection,
// still up.
func (p *streamPeer) onePeerConnection(t *testing.T) {
	t.Helper()
	if n := p.count(kind("negotiating")); n != 1 {
		t.Errorf("%s made %d PeerConnections, want 1:\n%s", p.name, n, p.stderr.String())
	}
	if n := p.count(kind("session_end")); n != 0 {
		t.Errorf("%s's session ended %d times:\n%s", p.name, n, p.stderr.String())
	}
}
