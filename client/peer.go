package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
	// SettingEngine is used when API is nil. nil: pion's defaults, with
	// ICE timeouts short enough to notice a lost path in a few seconds
	// (disconnected after 3 s of silence, failed after 15 s, keep-alive
	// every second), SCTP retransmissions backing off to at most a second
	// (data resumes within a second of a path coming back), and the
	// machine's interfaces read afresh at every ICE restart (so a restart
	// after a network change gathers on the new network).
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
	// negotiation. Tracks added or removed later (Session.AddTrack) are
	// negotiated on the same PeerConnection.
	OnPeerConnection func(pc *webrtc.PeerConnection) error
	// Hello, when set, is sent to the partner before a session's first
	// offer or answer as a peerMessageCommand with definition
	// HelloDefinition. The partner's hello, if it sends one, is
	// Session.Hello: duet peers use it to learn that the other side is one
	// of them.
	Hello json.RawMessage
	// OnEvent, when set, is told what the peer does, in order, on the
	// peer's goroutine. It must not block or call Close.
	OnEvent func(PeerEvent)
	// JoinOptions are sent with the join (WithToken, WithTokenSource).
	// The Peer adds WithSession and WithResume itself.
	JoinOptions []JoinOption

	// SessionID is the call-session id sent with every join (WithSession)
	// so the partner recognises this peer after the server lost its
	// state. Default: a random one (NewSessionID).
	SessionID string
	// ICERestartGrace is how long the connection may stay "disconnected"
	// before the peer restarts ICE [2s]. A "failed" connection or a lost
	// local address restarts it at once.
	ICERestartGrace time.Duration
	// ICERestartTimeout is how long one ICE restart may take before the
	// next is tried [8s].
	ICERestartTimeout time.Duration
	// MaxICERestarts is how many ICE restarts in a row may fail before the
	// session ends with ErrConnectionFailed [5].
	MaxICERestarts int
	// QualityInterval is how often the call's quality is measured and
	// reported to the server (EventQuality; quality.go)
	// [DefaultQualityInterval], at least a second; negative: never.
	QualityInterval time.Duration
}

// PeerEventKind names what happened to a Peer.
type PeerEventKind string

// Kinds of PeerEvent.
const (
	EventJoined      PeerEventKind = "joined"       // in the room (Rejoin: again, after a reconnect; Resumed: seat taken back)
	EventNegotiating PeerEventKind = "negotiating"  // a partner is there; offer/answer under way on a new PeerConnection
	EventConnected   PeerEventKind = "connected"    // a session's data channel is open
	EventSessionEnd  PeerEventKind = "session_end"  // a session ended; Err says why
	EventReconnect   PeerEventKind = "reconnecting" // the signaling socket was lost; the client redials (the session goes on)
	EventServerError PeerEventKind = "server_error" // the server sent an error about the room; Err
	EventFailed      PeerEventKind = "failed"       // the peer gave up (e.g. a rejoin was refused); Err

	// The session survives these.
	EventRecognized       PeerEventKind = "recognized"        // after the server lost its state, the same partner is back: the session is kept
	EventPeerReconnecting PeerEventKind = "peer_reconnecting" // the partner's socket was lost; the server holds its seat
	EventPeerReconnected  PeerEventKind = "peer_reconnected"  // the partner took its seat back
	EventPeerAway         PeerEventKind = "peer_away"         // the server says the partner is gone (Reason) but the connection is up: it is kept
	EventConnectionState  PeerEventKind = "connection_state"  // the PeerConnection's state changed (State)
	EventRenegotiating    PeerEventKind = "renegotiating"     // an offer on the current session (a track added or removed, or ICE restart: Reason)
	EventCollision        PeerEventKind = "offer_collision"   // both sides offered at once (Reason: which way it was resolved)
)

// PeerEvent is one thing that happened to a Peer.
type PeerEvent struct {
	Kind    PeerEventKind
	Room    string
	Peer    string   // in a Mesh: the member this pair's engine is for
	Rejoin  bool     // for EventJoined
	Resumed bool     // for EventJoined: the server gave the held seat back
	Offerer bool     // for EventNegotiating and EventConnected
	State   string   // for EventConnectionState: the PeerConnection state
	Reason  string   // for EventPeerAway (the stop reason), EventRenegotiating ("ice restart: ..."), EventCollision
	Err     error    // for EventSessionEnd, EventServerError, EventFailed
	Quality *Quality // for EventQuality
}

// Peer is one seat in one room: it negotiates a Session with whoever else
// is in the room and keeps it up through renegotiations, ICE restarts, a
// lost signaling socket and a restarted server; a new Session starts only
// when the partner changes. Close it to leave the room.
type Peer struct {
	c       *Client
	room    string
	opts    PeerOptions
	api     *webrtc.API
	log     *slog.Logger
	sub     eventSource
	session string // our call-session id

	// In a Mesh, the Peer is the engine of one pair: peer is the other
	// member's id ("" in a room of two; guarded by mu: a Mesh changes it
	// when the member comes back under a new id) and mesh feeds it its
	// events.
	peer string
	mesh *Mesh

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}  // closed when run returns
	wg     sync.WaitGroup // PeerConnections being closed

	// Work posted by pion callbacks and timers, run on the peer's goroutine.
	postMu   sync.Mutex
	posted   []func()
	postWake chan struct{}

	// Owned by run.
	cur      *Session
	pending  []webrtc.ICECandidateInit // candidates that came before the offer
	hello    json.RawMessage           // the partner's hello, for the session its offer starts
	online   bool                      // joined on the current socket: relays can go out
	roomPeer string                    // the partner's session id, from the last joined or start
	outbox   []TakeCandidate           // candidates that could not be sent while offline
	away     bool                      // the server said the partner is gone, but we kept the connection
	// turnSuspect: the socket we lost was to the server whose TURN relays
	// our path; the path moves as soon as we are back (resync).
	turnSuspect bool
	iceExpiry   time.Time    // when the TURN credentials in use expire
	iceRefresh  *time.Timer  // asks for fresh ones before then
	q           qualityState // the call's quality reports (quality.go)

	mu      sync.Mutex
	ready   *Session // open, not yet returned by Accept
	readyCh chan struct{}
	err     error // why the peer stopped
	closing sync.Once
}

// HelloDefinition is the peerMessageCommand definition of a hello
// (PeerOptions.Hello).
const HelloDefinition = "duetHello"

// maxPending bounds the candidates kept for a description yet to come, or
// for a socket yet to come back.
const maxPending = 256

// NewSessionID returns a random call-session id (128 bits, URL-safe).
func NewSessionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewPeer joins room on c and returns once joined, ready to negotiate with
// whoever is or comes into the room. A full room fails with an error for
// which errors.Is(err, protocol.ErrNoSpaceForNewPeer) holds. The Peer does
// not own c: close the Peer, then the Client.
//
// The join carries duet's resume extensions (a call-session id, resumable):
// a lost socket is then not a lost call, and servers or partners that do
// not know them (Ant Media's) behave as before.
func NewPeer(ctx context.Context, c *Client, room string, opts *PeerOptions) (*Peer, error) {
	p, err := newEngine(c, room, opts)
	if err != nil {
		return nil, err
	}
	// Subscribe first: start may follow joined at once.
	sub := c.Subscribe(room)
	p.sub = sub
	jo := append([]JoinOption{WithSession(p.opts.SessionID), WithResume()}, p.opts.JoinOptions...)
	if err := c.Join(ctx, room, jo...); err != nil {
		sub.Close()
		p.cancel()
		return nil, err
	}
	p.startQuality()
	go p.run()
	return p, nil
}

// newEngine makes a Peer that is not running: its caller gives it its
// events (sub) and starts it (run).
func newEngine(c *Client, room string, opts *PeerOptions) (*Peer, error) {
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
	if o.SessionID == "" {
		o.SessionID = NewSessionID()
	}
	if o.ICERestartGrace <= 0 {
		o.ICERestartGrace = 2 * time.Second
	}
	if o.ICERestartTimeout <= 0 {
		o.ICERestartTimeout = 8 * time.Second
	}
	if o.MaxICERestarts <= 0 {
		o.MaxICERestarts = 5
	}
	api := o.API
	if api == nil {
		var se webrtc.SettingEngine
		if o.SettingEngine != nil {
			se = *o.SettingEngine
		} else {
			se.SetICETimeouts(3*time.Second, 15*time.Second, time.Second)
			// After a path comes back (an ICE restart), data that waited
			// goes at the next retransmission: cap its backoff.
			se.SetSCTPRTOMax(time.Second)
			// Gather on the interfaces there are at each ICE restart.
			nw, err := newLiveNet()
			if err != nil {
				return nil, fmt.Errorf("client: network: %w", err)
			}
			se.SetNet(nw)
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
		c: c, room: room, opts: o, api: api, session: o.SessionID,
		log:      o.Logger.With("room", room),
		ctx:      pctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		postWake: make(chan struct{}, 1),
		readyCh:  make(chan struct{}, 1),
	}
	return p, nil
}

// Room is the peer's room.
func (p *Peer) Room() string { return p.room }

// SessionID is the call-session id the peer joins with.
func (p *Peer) SessionID() string { return p.session }

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
		// Leave first, so that the partner hears stop (reason left) from
		// the server and hangs up rather than waiting for us.
		if p.mesh == nil { // a Mesh's pair leaves nothing: the Mesh leaves the room
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			p.c.Leave(ctx, p.room)
			cancel()
		}
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
		if p.iceRefresh != nil {
			p.iceRefresh.Stop()
		}
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

func (p *Peer) emit(e PeerEvent) {
	e.Room, e.Peer = p.room, p.peerID()
	p.observeQuality(e)
	if p.opts.OnEvent != nil {
		p.opts.OnEvent(e)
	}
}
