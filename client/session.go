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

// Session is one negotiated connection with one partner: a pion
// PeerConnection and its data channel. It ends when the partner leaves, the
// connection fails, a new negotiation replaces it, the signaling socket is
// lost or the Peer is closed; Done is then closed and Err says why.
type Session struct {
	room    string
	offerer bool
	pc      *webrtc.PeerConnection

	msgs     chan webrtc.DataChannelMessage
	open     chan struct{} // closed when the data channel opens
	dcClosed chan struct{} // closed when the data channel closes
	low      chan struct{} // buffered amount fell to sendLow
	done     chan struct{}

	mu          sync.Mutex
	dc          *webrtc.DataChannel
	err         error
	descSent    bool                          // our description went out; candidates may follow
	early       []webrtc.ICECandidateInit     // candidates gathered before that
	remoteUfrag string                        // of the partner's current description
	hello       json.RawMessage               // the partner's hello
	sendCand    func(webrtc.ICECandidateInit) // sends one candidate to the partner
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

// Offerer reports whether this side made the offer (it got start).
func (s *Session) Offerer() bool { return s.offerer }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended (ErrPeerLeft, ErrConnectionFailed,
// ErrReplaced, ErrSignalingLost, ErrClosed); nil while it runs.
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
// the channel, so a fast sender does not fill memory.
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
	if text {
		return dc.SendText(string(data))
	}
	return dc.Send(data)
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

// candidate sends a local candidate, or keeps it until our description has
// been sent, so the partner never gets candidates before the description.
func (s *Session) candidate(c webrtc.ICECandidateInit) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	if !s.descSent {
		s.early = append(s.early, c)
		s.mu.Unlock()
		return
	}
	send := s.sendCand
	s.mu.Unlock()
	send(c)
}

// descriptionSent releases the candidates gathered so far.
func (s *Session) descriptionSent() {
	s.mu.Lock()
	s.descSent = true
	early := s.early
	s.early = nil
	send := s.sendCand
	s.mu.Unlock()
	for _, c := range early {
		send(c)
	}
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
