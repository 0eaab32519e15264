package client

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Backpressure of Session.Send: it waits while more than sendHigh bytes
// are queued on the data channel, until they drain to sendLow.
const (
	sendHigh = 1 << 20
	sendLow  = 256 << 10
)

// Session is one connection with one partner: a pion PeerConnection and
// its data channel. It lasts through renegotiations (tracks added or
// removed), ICE restarts (a network change), a lost signaling socket and a
// restarted server. It ends when the partner hangs up, the connection
// fails for good (ICE restarts exhausted), another partner takes the seat
// or the Peer is closed; Done is then closed and Err says why.
type Session struct {
	room    string
	offerer bool
	pc      *webrtc.PeerConnection
	peer    *Peer

	msgs     chan webrtc.DataChannelMessage
	open     chan struct{} // closed when the data channel opens
	dcClosed chan struct{} // closed when the data channel closes
	low      chan struct{} // buffered amount fell to sendLow
	done     chan struct{}

	// Owned by the peer's goroutine.
	partner  string // the partner's call-session id, if it sent one
	remoteFP string // the certificate fingerprint of the partner's PeerConnection
	unsent   bool   // our last description has not reached the server
	// inflight is the polite side's offer, sent but applied only with the
	// answer (negotiate.go).
	inflight        *webrtc.SessionDescription
	inflightRestart bool
	// restartOut: our ICE restart offer waits for its answer (either
	// side); resync sends that offer again rather than a new restart.
	restartOut    bool
	helloSent     bool
	needed        bool                                  // pion said negotiationneeded
	restartWhy    string                                // an ICE restart is wanted, and why
	restarts      int                                   // ICE restarts since the connection was last up
	nextMid       int                                   // the number of the polite side's next own mid
	held          map[*webrtc.RTPTransceiver]*heldTrack // tracks held back (hold.go)
	everConnected bool
	grace, retry  *time.Timer // ICE restart after "disconnected"; next restart attempt

	mu    sync.Mutex
	dc    *webrtc.DataChannel
	err   error
	hello json.RawMessage // the partner's hello
}

func newSession(room string, offerer bool, pc *webrtc.PeerConnection) *Session {
	return &Session{
		room:     room,
		offerer:  offerer,
		pc:       pc,
		msgs:     make(chan webrtc.DataChannelMessage, 64),
		open:     make(chan struct{}),
		dcClosed: make(chan struct{}),
		low:      make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// PeerConnection is the session's pion PeerConnection: use it for media
// (tracks, stats). Do not close it; the Peer does.
func (s *Session) PeerConnection() *webrtc.PeerConnection { return s.pc }

// DataChannel is the session's data channel, open when Accept returns it.
// Read it with Recv rather than OnMessage, which the session uses.
func (s *Session) DataChannel() *webrtc.DataChannel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dc
}

// Hello is the partner's hello (see PeerOptions.Hello), or nil when it
// sent none. It is known when Accept returns the session: a hello travels
// before the description it belongs to.
func (s *Session) Hello() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hello
}

func (s *Session) setHello(h json.RawMessage) {
	s.mu.Lock()
	s.hello = h
	s.mu.Unlock()
}

// Offerer reports whether this side made the first offer (it got start).
func (s *Session) Offerer() bool { return s.offerer }

// polite: the side that did not get start yields in an offer collision.
func (s *Session) polite() bool { return !s.offerer }

// AddTrack sends a local track to the partner: it is negotiated on the
// same PeerConnection (either side may do this at any time; when both do
// at once the collision is resolved by rollback).
func (s *Session) AddTrack(track webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	if err := s.Err(); err != nil {
		return nil, err
	}
	return s.pc.AddTrack(track)
}

// RemoveTrack stops sending a track added with AddTrack (or in
// PeerOptions.OnPeerConnection); the change is negotiated on the same
// PeerConnection.
func (s *Session) RemoveTrack(sender *webrtc.RTPSender) error {
	if err := s.Err(); err != nil {
		return err
	}
	return s.pc.RemoveTrack(sender)
}

// RestartICE asks for an ICE restart on the same PeerConnection (the peer
// does it by itself when the connection drops or a local address goes
// away).
func (s *Session) RestartICE() {
	s.peer.post(func() { s.peer.wantRestart(s, "asked") })
}

func (s *Session) stopGrace() {
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
}

func (s *Session) stopTimers() {
	s.stopGrace()
	if s.retry != nil {
		s.retry.Stop()
		s.retry = nil
	}
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended (ErrPeerLeft, ErrConnectionFailed,
// ErrReplaced, ErrClosed); nil while it runs.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Recv returns the next data-channel message. Messages are delivered in
// order; a sender is slowed down (SCTP flow control) while they are not
// read. After the partner closes the channel Recv returns the remaining
// messages, then io.EOF; after the session ends, its Err.
func (s *Session) Recv(ctx context.Context) (webrtc.DataChannelMessage, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	default:
	}
	select {
	case m := <-s.msgs:
		return m, nil
	case <-s.dcClosed:
		return s.drain(io.EOF)
	case <-s.done:
		return s.drain(s.Err())
	case <-ctx.Done():
		return webrtc.DataChannelMessage{}, ctx.Err()
	}
}

func (s *Session) drain(err error) (webrtc.DataChannelMessage, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	default:
		return webrtc.DataChannelMessage{}, err
	}
}

// Send sends a binary message (at most 16 KiB for browsers to accept it;
// an empty one is allowed). It waits while more than 1 MiB is queued on
// the channel, so a fast sender does not fill memory. Once the session has
// ended it returns the session's Err.
func (s *Session) Send(ctx context.Context, data []byte) error { return s.send(ctx, data, false) }

// SendText sends a text message, with Send's backpressure.
func (s *Session) SendText(ctx context.Context, text string) error {
	return s.send(ctx, []byte(text), true)
}

func (s *Session) send(ctx context.Context, data []byte, text bool) error {
	dc := s.DataChannel()
	if dc == nil {
		return ErrNotConnected
	}
	for dc.BufferedAmount() > sendHigh {
		select {
		case <-s.low:
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var err error
	if text {
		err = dc.SendText(string(data))
	} else {
		err = dc.Send(data)
	}
	if err != nil {
		select {
		case <-s.done: // the channel failed because the session ended: say why
			return s.Err()
		default:
		}
	}
	return err
}

// Flush waits until the channel's buffered amount is zero: with pion that
// is when the partner's SCTP stack has acknowledged everything sent (its
// application may not have read it yet).
func (s *Session) Flush(ctx context.Context) error {
	dc := s.DataChannel()
	if dc == nil {
		return ErrNotConnected
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for dc.BufferedAmount() > 0 {
		select {
		case <-t.C:
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// useChannel wires dc's callbacks. It runs before any message can arrive
// (pion calls OnDataChannel before it starts reading).
func (s *Session) useChannel(dc *webrtc.DataChannel, opened func()) {
	s.mu.Lock()
	if s.dc != nil {
		s.mu.Unlock()
		return // one data channel per session; a second one is left alone
	}
	s.dc = dc
	s.mu.Unlock()
	dc.SetBufferedAmountLowThreshold(sendLow)
	dc.OnBufferedAmountLow(func() {
		select {
		case s.low <- struct{}{}:
		default:
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case s.msgs <- m:
		case <-s.done:
		}
	})
	var openOnce, closeOnce sync.Once
	dc.OnOpen(func() {
		openOnce.Do(func() {
			close(s.open)
			opened()
		})
	})
	dc.OnClose(func() { closeOnce.Do(func() { close(s.dcClosed) }) })
}

// end marks the session over; it reports false if it already was.
func (s *Session) end(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false
	}
	s.err = err
	close(s.done)
	return true
}
