package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// PeerOptions configure a Peer. The zero value is usable.
type PeerOptions struct {
	Logger *slog.Logger // nil: discard

	// API builds the PeerConnections. nil: pion's default codecs and
	// interceptors with SettingEngine (and Loopback).
	API *webrtc.API
	// SettingEngine is used when API is nil. nil: pion's defaults.
	SettingEngine *webrtc.SettingEngine
	// Loopback, when API is nil, gathers only IPv4 loopback candidates and
	// turns off mDNS (see UseLoopback): for tests and demos on one machine.
	Loopback bool

	// Configuration is the template of every PeerConnection. When its
	// ICEServers is empty they come from the server (getIceServerConfig).
	Configuration webrtc.Configuration
	// DataChannelLabel is the label of the data channel the offerer
	// creates. Default: the room name, as duet's browser SDK does.
	DataChannelLabel string
	// RecvMedia makes the offerer ask for the partner's audio and video
	// (recvonly transceivers for the kinds it does not send itself), so a
	// browser that answers can send its camera.
	RecvMedia bool
	// OnPeerConnection is called with each new PeerConnection before
	// negotiation: add local tracks, set OnTrack. An error ends that
	// negotiation.
	OnPeerConnection func(pc *webrtc.PeerConnection) error
	// Hello, when set, is sent to the partner before each offer or answer
	// as a peerMessageCommand with definition HelloDefinition. The
	// partner's hello, if it sends one, is Session.Hello: duet peers use it
	// to learn that the other side is one of them.
	Hello json.RawMessage
	// OnEvent, when set, is told what the peer does, in order, on the
	// peer's goroutine. It must not block or call Close.
	OnEvent func(PeerEvent)
	// JoinOptions are sent with the join (WithToken).
	JoinOptions []JoinOption
}

// PeerEventKind names what happened to a Peer.
type PeerEventKind string

// Kinds of PeerEvent.
const (
	EventJoined      PeerEventKind = "joined"       // in the room (Rejoin: again, after a reconnect)
	EventNegotiating PeerEventKind = "negotiating"  // a partner is there; offer/answer under way
	EventConnected   PeerEventKind = "connected"    // a session's data channel is open
	EventSessionEnd  PeerEventKind = "session_end"  // a session ended; Err says why
	EventReconnect   PeerEventKind = "reconnecting" // the signaling socket was lost; the client redials
	EventServerError PeerEventKind = "server_error" // the server sent an error about the room; Err
	EventFailed      PeerEventKind = "failed"       // the peer gave up (e.g. a rejoin was refused); Err
)

// PeerEvent is one thing that happened to a Peer.
type PeerEvent struct {
	Kind    PeerEventKind
	Room    string
	Rejoin  bool  // for EventJoined
	Offerer bool  // for EventNegotiating and EventConnected
	Err     error // for EventSessionEnd, EventServerError, EventFailed
}

// Peer is one seat in one room: it negotiates a Session with whoever else
// is in the room, and a new one each time the partner changes. Close it to
// leave the room.
type Peer struct {
	c    *Client
	room string
	opts PeerOptions
	api  *webrtc.API
	log  *slog.Logger
	sub  *Subscription

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}  // closed when run returns
	wg     sync.WaitGroup // PeerConnections being closed

	// Work posted by pion callbacks, run on the peer's goroutine.
	postMu   sync.Mutex
	posted   []func()
	postWake chan struct{}

	// Owned by run.
	cur     *Session
	pending []webrtc.ICECandidateInit // candidates that came before the offer
	hello   json.RawMessage           // the partner's hello, for the session its offer starts

	mu      sync.Mutex
	ready   *Session // open, not yet returned by Accept
	readyCh chan struct{}
	err     error // why the peer stopped
	closing sync.Once
}

// HelloDefinition is the peerMessageCommand definition of a hello
// (PeerOptions.Hello).
const HelloDefinition = "duetHello"

// maxPending bounds the candidates kept for a description yet to come.
const maxPending = 256

// NewPeer joins room on c and returns once joined, ready to negotiate with
// whoever is or comes into the room. A full room fails with an error for
// which errors.Is(err, protocol.ErrNoSpaceForNewPeer) holds. The Peer does
// not own c: close the Peer, then the Client.
func NewPeer(ctx context.Context, c *Client, room string, opts *PeerOptions) (*Peer, error) {
	var o PeerOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DataChannelLabel == "" {
		o.DataChannelLabel = room
	}
	api := o.API
	if api == nil {
		var se webrtc.SettingEngine
		if o.SettingEngine != nil {
			se = *o.SettingEngine
		}
		if o.Loopback {
			UseLoopback(&se)
		}
		var err error
		if api, err = newAPI(se); err != nil {
			return nil, fmt.Errorf("client: webrtc: %w", err)
		}
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Peer{
		c: c, room: room, opts: o, api: api,
		log:      o.Logger.With("room", room),
		ctx:      pctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		postWake: make(chan struct{}, 1),
		readyCh:  make(chan struct{}, 1),
	}
	// Subscribe first: start may follow joined at once.
	p.sub = c.Subscribe(room)
	if err := c.Join(ctx, room, o.JoinOptions...); err != nil {
		p.sub.Close()
		cancel()
		return nil, err
	}
	go p.run()
	return p, nil
}

// Room is the peer's room.
func (p *Peer) Room() string { return p.room }

// Accept waits for the next session whose data channel is open and returns
// it. It fails when ctx ends or the peer stops (Close, a refused rejoin, the
// Client closed). A session that ended before it was accepted is skipped.
func (p *Peer) Accept(ctx context.Context) (*Session, error) {
	for {
		p.mu.Lock()
		s, err := p.ready, p.err
		p.ready = nil
		p.mu.Unlock()
		if s != nil && s.Err() == nil {
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-p.readyCh:
		case <-p.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Err is why the peer stopped, or nil while it runs.
func (p *Peer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Close ends the current session, leaves the room and waits for the peer's
// goroutines and PeerConnections to finish. It is safe to call more than
// once.
func (p *Peer) Close() error {
	p.closing.Do(func() {
		// Leave first, so that the partner hears stop from the server
		// rather than finding the connection closed.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		p.c.Leave(ctx, p.room)
		cancel()
		p.cancel()
		<-p.done
		p.sub.Close()
		p.wg.Wait()
	})
	return nil
}

// post runs f on the peer's goroutine. It never blocks, so pion's
// callbacks cannot deadlock with a PeerConnection being closed.
func (p *Peer) post(f func()) {
	p.postMu.Lock()
	p.posted = append(p.posted, f)
	p.postMu.Unlock()
	select {
	case p.postWake <- struct{}{}:
	default:
	}
}

func (p *Peer) run() {
	defer close(p.done)
	stop := func(err error) {
		p.endSession(ErrClosed)
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
	}
	for {
		select {
		case <-p.ctx.Done():
			stop(ErrClosed)
			return
		case ev, ok := <-p.sub.Events():
			if !ok {
				stop(fmt.Errorf("client: room %s: %w", p.room, p.sub.Err()))
				return
			}
			if err := p.handle(ev); err != nil {
				stop(err)
				p.emit(PeerEvent{Kind: EventFailed, Err: err})
				return
			}
		case <-p.postWake:
			p.postMu.Lock()
			work := p.posted
			p.posted = nil
			p.postMu.Unlock()
			for _, f := range work {
				f()
			}
		}
	}
}

// handle acts on one signaling event; an error stops the peer.
func (p *Peer) handle(ev Event) error {
	switch e := ev.(type) {
	case Joined:
		p.emit(PeerEvent{Kind: EventJoined, Rejoin: e.Rejoin})
	case Start:
		// A partner joined; we offer, on a fresh connection.
		p.endSession(ErrReplaced)
		p.pending, p.hello = nil, nil
		if err := p.offer(); err != nil {
			p.log.Warn("offer failed", "err", err)
			p.endSession(err)
		}
	case TakeConfiguration:
		var err error
		switch e.Type {
		case "offer":
			err = p.answer(e.SDP)
		case "answer":
			err = p.setAnswer(e.SDP)
		}
		if err != nil {
			p.log.Warn("negotiation failed", "type", e.Type, "err", err)
			p.endSession(err)
		}
	case TakeCandidate:
		p.remoteCandidate(e)
	case PeerMessage:
		if e.Definition == HelloDefinition {
			if s := p.cur; s != nil && s.offerer {
				s.setHello(e.Data) // the answerer's, before its answer
			} else {
				p.hello = e.Data // the offerer's, before its offer
			}
		}
	case Stop:
		p.endSession(ErrPeerLeft)
		p.pending, p.hello = nil, nil
	case Disconnected:
		// The server tells the partner stop when our socket goes; what we
		// had is over, and the rejoin starts anew.
		p.endSession(ErrSignalingLost)
		p.pending, p.hello = nil, nil
		p.emit(PeerEvent{Kind: EventReconnect, Err: e.Err})
	case *ServerError:
		if e.Join {
			return e
		}
		if e.Room == p.room {
			p.log.Debug("server error", "definition", e.Definition)
			p.emit(PeerEvent{Kind: EventServerError, Err: e})
		}
	}
	return nil
}

// newSession makes the PeerConnection of a new negotiation.
func (p *Peer) newSession(offerer bool) (*Session, error) {
	cfg := p.opts.Configuration
	if len(cfg.ICEServers) == 0 {
		if ice, ok := p.c.ICEConfig(); ok {
			cfg.ICEServers = ICEServers(ice)
		}
	}
	pc, err := p.api.NewPeerConnection(cfg)
	if err != nil {
		return nil, err
	}
	s := newSession(p.room, offerer, pc)
	s.sendCand = func(c webrtc.ICECandidateInit) {
		tc := TakeCandidate{Room: p.room, Candidate: c.Candidate}
		if c.SDPMLineIndex != nil {
			tc.Label = int(*c.SDPMLineIndex)
		}
		if c.SDPMid != nil {
			tc.ID = *c.SDPMid
		}
		if err := p.c.Send(p.ctx, tc); err != nil {
			p.log.Debug("candidate not sent", "err", err)
		}
	}
	p.cur = s
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			s.candidate(c.ToJSON())
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.post(func() { p.connectionState(s, st) })
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { s.useChannel(dc, func() { p.post(func() { p.opened(s) }) }) })
	if p.opts.OnPeerConnection != nil {
		if err := p.opts.OnPeerConnection(pc); err != nil {
			return nil, fmt.Errorf("OnPeerConnection: %w", err)
		}
	}
	p.emit(PeerEvent{Kind: EventNegotiating, Offerer: offerer})
	return s, nil
}

func (p *Peer) offer() error {
	s, err := p.newSession(true)
	if err != nil {
		return err
	}
	if p.opts.RecvMedia {
		sending := map[webrtc.RTPCodecType]bool{}
		for _, t := range s.pc.GetTransceivers() {
			if t.Sender() != nil && t.Sender().Track() != nil {
				sending[t.Kind()] = true
			}
		}
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if sending[kind] {
				continue
			}
			if _, err := s.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return err
			}
		}
	}
	dc, err := s.pc.CreateDataChannel(p.opts.DataChannelLabel, nil)
	if err != nil {
		return err
	}
	s.useChannel(dc, func() { p.post(func() { p.opened(s) }) })
	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := s.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	p.sendHello()
	if err := p.c.Send(p.ctx, TakeConfiguration{Room: p.room, Type: "offer", SDP: offer.SDP}); err != nil {
		return err
	}
	s.descriptionSent()
	return nil
}

func (p *Peer) answer(sdp string) error {
	s := p.cur
	ufrag := iceUfrag(sdp)
	if s == nil || s.offerer || s.remoteUfrag == "" || s.remoteUfrag != ufrag {
		// Not a renegotiation of what we have: a new partner connection.
		p.endSession(ErrReplaced)
		var err error
		if s, err = p.newSession(false); err != nil {
			return err
		}
	}
	if p.hello != nil {
		s.setHello(p.hello)
		p.hello = nil
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	s.remoteUfrag = ufrag
	p.flushPending(s)
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := s.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	p.sendHello()
	if err := p.c.Send(p.ctx, TakeConfiguration{Room: p.room, Type: "answer", SDP: answer.SDP}); err != nil {
		return err
	}
	s.descriptionSent()
	return nil
}

// sendHello sends PeerOptions.Hello; it goes before our description, so
// the partner has it before its data channel can open.
func (p *Peer) sendHello() {
	if p.opts.Hello == nil {
		return
	}
	if err := p.c.Send(p.ctx, PeerMessage{Room: p.room, Definition: HelloDefinition, Data: p.opts.Hello}); err != nil {
		p.log.Debug("hello not sent", "err", err)
	}
}

func (p *Peer) setAnswer(sdp string) error {
	s := p.cur
	if s == nil || s.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		p.log.Debug("answer ignored: no offer pending")
		return nil
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return err
	}
	s.remoteUfrag = iceUfrag(sdp)
	p.flushPending(s)
	return nil
}

func (p *Peer) remoteCandidate(e TakeCandidate) {
	if e.Candidate == "" {
		return // end of candidates
	}
	label := uint16(e.Label)
	id := e.ID
	c := webrtc.ICECandidateInit{Candidate: e.Candidate, SDPMid: &id, SDPMLineIndex: &label}
	s := p.cur
	if s == nil || s.pc.RemoteDescription() == nil {
		// Candidates can overtake the description: keep them for it.
		if len(p.pending) < maxPending {
			p.pending = append(p.pending, c)
		}
		return
	}
	if err := s.pc.AddICECandidate(c); err != nil {
		p.log.Debug("remote candidate rejected", "err", err)
	}
}

func (p *Peer) flushPending(s *Session) {
	for _, c := range p.pending {
		if err := s.pc.AddICECandidate(c); err != nil {
			p.log.Debug("remote candidate rejected", "err", err)
		}
	}
	p.pending = nil
}

func (p *Peer) connectionState(s *Session, st webrtc.PeerConnectionState) {
	p.log.Debug("peer connection state", "state", st.String())
	if s != p.cur {
		return
	}
	switch st {
	case webrtc.PeerConnectionStateFailed:
		p.endSession(ErrConnectionFailed)
	case webrtc.PeerConnectionStateClosed:
		// We never see our own closes (s is no longer current then): the
		// partner closed the connection, which it does when it leaves.
		p.endSession(ErrPeerLeft)
	}
}

// opened offers a session whose data channel opened to Accept.
func (p *Peer) opened(s *Session) {
	if s != p.cur || s.Err() != nil {
		return
	}
	p.mu.Lock()
	p.ready = s
	p.mu.Unlock()
	select {
	case p.readyCh <- struct{}{}:
	default:
	}
	p.emit(PeerEvent{Kind: EventConnected, Offerer: s.offerer})
}

// endSession ends the current session, if any, and closes its
// PeerConnection in the background.
func (p *Peer) endSession(err error) {
	s := p.cur
	if s == nil {
		return
	}
	p.cur = nil
	if !s.end(err) {
		return
	}
	p.emit(PeerEvent{Kind: EventSessionEnd, Err: err})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := s.pc.GracefulClose(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
	}()
}

func (p *Peer) emit(e PeerEvent) {
	e.Room = p.room
	if p.opts.OnEvent != nil {
		p.opts.OnEvent(e)
	}
}
