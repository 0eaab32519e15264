package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/duet-rtc/duet/client"
)

// numbered sends the messages "0", "1", … on a session's data channel, one
// every interval, until stopped; the partner checks with checkNumbered that
// every one arrives, in order, whatever happens to the connection meanwhile.
type numbered struct {
	stop chan struct{}
	done chan struct{}
	sent atomic.Int64
	err  error
}

func sendNumbered(t *testing.T, s *client.Session, every time.Duration) *numbered {
	n := &numbered{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(n.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-n.stop:
				return
			case <-tk.C:
			}
			if err := s.SendText(context.Background(), strconv.Itoa(i)); err != nil {
				n.err = err
				return
			}
			n.sent.Add(1)
		}
	}()
	t.Cleanup(func() { n.end() })
	return n
}

// end stops sending and returns how many were sent.
func (n *numbered) end() int {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
	return int(n.sent.Load())
}

// received follows a numbered stream: the next number expected and the
// longest silence between two messages.
type received struct {
	mu     sync.Mutex
	next   int
	last   time.Time
	maxGap time.Duration
	err    error
	done   chan struct{}
}

func checkNumbered(t *testing.T, s *client.Session) *received {
	r := &received{done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); <-r.done })
	go func() {
		defer close(r.done)
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				r.mu.Lock()
				if ctx.Err() == nil {
					r.err = err
				}
				r.mu.Unlock()
				return
			}
			now := time.Now()
			r.mu.Lock()
			if got := string(m.Data); got != strconv.Itoa(r.next) {
				r.err = fmt.Errorf("got message %q, want %d: a message was lost or reordered", got, r.next)
				r.mu.Unlock()
				return
			}
			if !r.last.IsZero() && now.Sub(r.last) > r.maxGap {
				r.maxGap = now.Sub(r.last)
			}
			r.next++
			r.last = now
			r.mu.Unlock()
		}
	}()
	return r
}

// upTo waits until the numbers below n have arrived.
func (r *received) upTo(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		r.mu.Lock()
		next, err := r.next, r.err
		r.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if next >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d numbered messages arrived", next, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gap is the longest silence so far; reset starts measuring anew.
func (r *received) gap() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxGap
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// videoTrack is a local VP8 track fed with a dummy frame every 20 ms until
// the test ends.
func videoTrack(t *testing.T, id string) *webrtc.TrackLocalStaticSample {
	return mediaTrack(t, webrtc.MimeTypeVP8, id, 20*time.Millisecond)
}

// audioTrack is videoTrack's Opus twin, fed every interval.
func audioTrack(t *testing.T, id string, every time.Duration) *webrtc.TrackLocalStaticSample {
	return mediaTrack(t, webrtc.MimeTypeOpus, id, every)
}

// mediaTrack is a local track of one codec fed with a dummy one-packet
// sample every interval until the test ends.
func mediaTrack(t *testing.T, mime, id string, every time.Duration) *webrtc.TrackLocalStaticSample {
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, id, "stream-"+id)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				tr.WriteSample(media.Sample{Data: []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}, Duration: every})
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return tr
}

// remoteTracks records the tracks a PeerConnection receives (by track id)
// and reads them until they end, counting their packets and the gaps in
// their sequence numbers.
type remoteTracks struct {
	mu      sync.Mutex
	ids     map[string]bool
	packets map[string]int
	gaps    map[string]int
}

func (rt *remoteTracks) hook(pc *webrtc.PeerConnection) error {
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		rt.mu.Lock()
		if rt.ids == nil {
			rt.ids, rt.packets, rt.gaps = map[string]bool{}, map[string]int{}, map[string]int{}
		}
		rt.ids[tr.ID()] = true
		rt.mu.Unlock()
		var last uint16
		for n := 0; ; {
			// A deadline, because pion may leave the read of a track whose
			// m-line was renegotiated away blocked after Close.
			tr.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			pkt, _, err := tr.ReadRTP()
			var ne net.Error
			timeout := errors.As(err, &ne) && ne.Timeout()
			if err != nil && (!timeout || pc.ConnectionState() == webrtc.PeerConnectionStateClosed) {
				return
			}
			if err != nil {
				continue
			}
			rt.mu.Lock()
			if n > 0 && pkt.SequenceNumber != last+1 {
				rt.gaps[tr.ID()]++
			}
			n++
			rt.packets[tr.ID()] = n
			rt.mu.Unlock()
			last = pkt.SequenceNumber
		}
	})
	return nil
}

// received says how many packets of track id arrived, and in how many
// places its sequence numbers skipped.
func (rt *remoteTracks) received(id string) (packets, gaps int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.packets[id], rt.gaps[id]
}

func (rt *remoteTracks) has(id string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.ids[id]
}

// waitFor polls cond until it holds or the test's wait runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventLog collects a peer's events for later checks.
type eventLog struct {
	mu   sync.Mutex
	evs  []client.PeerEvent
	hook func(client.PeerEvent) // also told every event, on the peer's goroutine
}

func (l *eventLog) add(e client.PeerEvent) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	hook := l.hook
	l.mu.Unlock()
	if hook != nil {
		hook(e)
	}
}

func (l *eventLog) setHook(hook func(client.PeerEvent)) {
	l.mu.Lock()
	l.hook = hook
	l.mu.Unlock()
}

func (l *eventLog) count(kind client.PeerEventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (l *eventLog) find(ok func(client.PeerEvent) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.evs {
		if ok(e) {
			return true
		}
	}
	return false
}
