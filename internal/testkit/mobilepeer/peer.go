// Package mobilepeer is a pion peer that behaves on the wire as the Ant
// Media mobile SDKs do around a call, as read from their public sources:
// the iOS SDK (WebRTC-iOS-SDK, WebRTCiOSSDK/api/AntMediaClient.swift) and
// the Android SDK (WebRTC-Android-SDK, websocket/WebSocketHandler.java and
// core/WebRTCClient.java). It sends the messages they send, in their
// shapes, reacts to the server's as they do, and runs their timers (which
// a test may scale down, keeping their order). Tests pair it with
// browsers and Go peers to check that these SDKs, unchanged, get a
// working call back after a hang-up, a lost network or a stop.
package mobilepeer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Kind is the SDK a Peer behaves as.
type Kind uint8

// SDKs.
const (
	// IOS: joins with video, audio, trackList (and mainTrack when set);
	// pings every 10 s; never sends leave while its socket is connected;
	// on stop drops its peer connection; 3 s after its ICE is lost it
	// rejoins if the connection is still down (reconnectIfRequires).
	IOS Kind = iota + 1
	// Android: joins with token; no application ping in a peer-to-peer
	// call; on stop closes its WebSocket; reopens the socket every 5 s
	// while it is down; 3 s after ICE is lost, and then every 10 s until a
	// peer connection is up again, closes it and sends leave then join.
	Android
	// Plain: joins with what Options.JoinExtra adds and nothing else on
	// its own (a duet SDK's wire, for tests that drive it by hand).
	Plain
)

func (k Kind) String() string {
	switch k {
	case IOS:
		return "ios"
	case Android:
		return "android"
	}
	return "plain"
}

// Timers are an SDK's delays.
type Timers struct {
	Ping        time.Duration // iOS: application ping period (10 s); 0: none (Android in a p2p call)
	Reconnect   time.Duration // the wait after ICE is lost before the first rejoin (3 s, both)
	RetryEvery  time.Duration // Android: between rejoin attempts (10 s)
	SocketEvery time.Duration // Android: between WebSocket reconnects while it is down (5 s)
}

// SDKTimers are k's delays as its source has them.
func SDKTimers(k Kind) Timers {
	switch k {
	case IOS:
		return Timers{Ping: 10 * time.Second, Reconnect: 3 * time.Second}
	case Android:
		return Timers{Reconnect: 3 * time.Second, RetryEvery: 10 * time.Second, SocketEvery: 5 * time.Second}
	}
	return Timers{}
}

// Scaled divides every delay by n (so that tests run n times faster, in
// the same order).
func (t Timers) Scaled(n int) Timers {
	d := time.Duration(n)
	return Timers{Ping: t.Ping / d, Reconnect: t.Reconnect / d, RetryEvery: t.RetryEvery / d, SocketEvery: t.SocketEvery / d}
}

// Options configure a Peer.
type Options struct {
	Kind      Kind
	URL       string // the server's WebSocket URL (a proxy's, to cut it)
	Room      string
	Timers    Timers         // zero: SDKTimers(Kind)
	MainTrack string         // iOS: sent as mainTrack (the app set one)
	JoinExtra map[string]any // fields added to every join
	// ICEDisconnected is how long ICE may go silent before it counts as
	// disconnected (libwebrtc's is a few seconds). Default 1 s.
	ICEDisconnected time.Duration
	Logf            func(format string, args ...any) // nil: quiet
}

// Peer is one SDK instance in one room.
type Peer struct {
	opt Options
	api *webrtc.API
	udp *switchConn
	mux *ice.UDPMuxDefault
	ctx context.Context
	end context.CancelFunc
	wg  sync.WaitGroup

	wmu sync.Mutex // one writer on the socket

	logMu sync.Mutex
	quiet bool // closed: no more logging

	mu           sync.Mutex
	ws           *websocket.Conn
	sockets      int
	pc           *webrtc.PeerConnection
	dc           *webrtc.DataChannel
	pending      []webrtc.ICECandidateInit // candidates before the offer or answer
	frames       []string                  // every frame received, in order
	errs         []string                  // the error frames' definitions
	got          []string                  // data channel texts received
	connects     int                       // peer connections that reached connected
	pcs          int                       // peer connections made
	lost         int                       // ICE disconnected or failed, on any peer connection
	attempts     int                       // Android: rejoin attempts that acted
	stopped      bool                      // the user hung up (no reconnection)
	reconnecting bool                      // Android: reconnectionInProgress
	retry        *time.Timer               // Android: the next rejoin attempt
	checking     bool                      // iOS: reconnectIfRequiresScheduled
	check        *time.Timer               // iOS: the scheduled check
	rtp          atomic.Int64
	pings        atomic.Int64 // the server's WebSocket pings answered
}

// New makes a peer; Start connects it.
func New(opt Options) (*Peer, error) {
	if opt.Timers == (Timers{}) {
		opt.Timers = SDKTimers(opt.Kind)
	}
	if opt.ICEDisconnected <= 0 {
		opt.ICEDisconnected = time.Second
	}
	udp, err := listenUDP()
	if err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	se.LoggerFactory = quiet
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: udp, Logger: quiet.NewLogger("ice")})
	se.SetICEUDPMux(mux)
	se.SetICETimeouts(opt.ICEDisconnected, 3*opt.ICEDisconnected, opt.ICEDisconnected/4)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	ctx, end := context.WithCancel(context.Background())
	return &Peer{opt: opt, udp: udp, mux: mux, ctx: ctx, end: end,
		api: webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))}, nil
}

// logf logs until Close: pion's callbacks may run after it, when the
// test that owns the log is over.
func (p *Peer) logf(format string, args ...any) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if p.opt.Logf != nil && !p.quiet {
		p.opt.Logf("%s peer: "+format, append([]any{p.opt.Kind}, args...)...)
	}
}

// Start opens the socket and joins, as the SDK's join does (iOS
// join(streamId:): a peer connection made ready, then the socket, then
// the join on its opening; Android connectWebSocket then join).
func (p *Peer) Start() error {
	if err := p.connect(); err != nil {
		return err
	}
	if p.opt.Kind == Android {
		p.wg.Add(1)
		go p.socketReconnector()
	}
	return nil
}

// connect opens a new socket and joins on it (iOS joins on every opening;
// Android's join is sent by the rejoin attempts, except the first).
func (p *Peer) connect() error {
	if p.udp.down.Load() {
		return errors.New("mobilepeer: network down")
	}
	d := websocket.Dialer{HandshakeTimeout: dialTimeout}
	ws, _, err := d.DialContext(p.ctx, p.opt.URL, http.Header{})
	if err != nil {
		return err
	}
	// The server's WebSocket pings are answered as gorilla does by
	// default (and as the SDKs' socket libraries do), and counted.
	ws.SetPingHandler(func(data string) error {
		p.pings.Add(1)
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	p.mu.Lock()
	if p.ws != nil || p.ctx.Err() != nil {
		p.mu.Unlock()
		ws.Close()
		return errors.New("mobilepeer: already connected")
	}
	p.ws = ws
	p.sockets++
	first := p.sockets == 1
	p.mu.Unlock()
	p.wg.Add(1)
	go p.read(ws)
	if p.opt.Timers.Ping > 0 {
		p.wg.Add(1)
		go p.ping(ws)
	}
	if first || p.opt.Kind == IOS {
		p.sendJoin(nil)
	}
	return nil
}

// joinMsg is the SDK's join: iOS encodes its HandshakeMessage (nil
// optionals left out), Android puts the token.
func (p *Peer) joinMsg(extra map[string]any) map[string]any {
	m := map[string]any{"command": "join", "streamId": p.opt.Room}
	switch p.opt.Kind {
	case IOS:
		m["token"], m["video"], m["audio"], m["trackList"] = "", true, true, []string{}
		if p.opt.MainTrack != "" {
			m["mainTrack"] = p.opt.MainTrack
		}
	case Android:
		m["token"] = ""
	}
	for k, v := range p.opt.JoinExtra {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func (p *Peer) sendJoin(extra map[string]any) { p.send(p.joinMsg(extra)) }

// send writes one message if the socket is up; the SDKs drop a message
// for a closed socket ("Web Socket is not connected").
func (p *Peer) send(m map[string]any) bool {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	p.mu.Lock()
	ws := p.ws
	p.mu.Unlock()
	if ws == nil {
		p.logf("not connected: %s dropped", m["command"])
		return false
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return ws.WriteMessage(websocket.TextMessage, b) == nil
}

// read handles the server's messages on ws until it closes.
func (p *Peer) read(ws *websocket.Conn) {
	defer p.wg.Done()
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			p.socketClosed(ws)
			return
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		p.mu.Lock()
		p.frames = append(p.frames, string(b))
		p.mu.Unlock()
		p.handle(ws, m)
	}
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func (p *Peer) handle(ws *websocket.Conn, m map[string]any) {
	switch str(m, "command") {
	case "start":
		p.offer()
	case "takeConfiguration":
		sdp := webrtc.SessionDescription{SDP: str(m, "sdp")}
		if str(m, "type") == "offer" {
			sdp.Type = webrtc.SDPTypeOffer
			p.answer(sdp)
		} else {
			sdp.Type = webrtc.SDPTypeAnswer
			p.remote(sdp)
		}
	case "takeCandidate":
		label, _ := m["label"].(float64)
		idx, mid := uint16(label), str(m, "id")
		p.candidate(webrtc.ICECandidateInit{Candidate: str(m, "candidate"), SDPMLineIndex: &idx, SDPMid: &mid})
	case "stop":
		if p.opt.Kind == Android {
			// WebSocketHandler.onTextMessage: disconnect(true), the
			// socket only; the peer connection stays until ICE says so.
			ws.Close()
			return
		}
		p.dropPC() // iOS: webRTCClientMap.removeValue(...)?.disconnect()
	case "error":
		p.mu.Lock()
		p.errs = append(p.errs, str(m, "definition"))
		p.mu.Unlock()
	}
}

// socketClosed follows the loss of ws: iOS checks its connection 3 s
// later; Android's reconnector reopens the socket on its own period.
func (p *Peer) socketClosed(ws *websocket.Conn) {
	p.mu.Lock()
	if p.ws == ws {
		p.ws = nil
	}
	p.mu.Unlock()
	ws.Close()
	if p.opt.Kind == IOS {
		p.iosCheck() // websocketDisconnected → reconnectIfRequires
	}
}

// ping sends iOS's application ping while ws is open.
func (p *Peer) ping(ws *websocket.Conn) {
	defer p.wg.Done()
	t := time.NewTicker(p.opt.Timers.Ping)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		live := p.ws == ws
		p.mu.Unlock()
		if !live {
			return
		}
		p.send(map[string]any{"command": "ping"})
	}
}

// Close ends the peer: its socket, peer connection and timers.
func (p *Peer) Close() {
	p.logMu.Lock()
	p.quiet = true
	p.logMu.Unlock()
	p.end()
	p.mu.Lock()
	ws, pc := p.ws, p.pc
	p.ws, p.pc, p.dc = nil, nil, nil
	for _, t := range []*time.Timer{p.retry, p.check} {
		if t != nil {
			t.Stop()
		}
	}
	p.mu.Unlock()
	if ws != nil {
		ws.Close()
	}
	if pc != nil {
		pc.Close()
	}
	p.wg.Wait()
	p.mux.Close() // and the socket under it
}

// Frames returns every frame received so far, in order.
func (p *Peer) Frames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.frames)
}

// Errors returns the definitions of the error frames received: each one
// the SDK hands to the app (iOS clientHasError, Android onError).
func (p *Peer) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errs)
}

// Sockets is how many sockets the peer has opened.
func (p *Peer) Sockets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sockets
}

// Connects is how many peer connections have reached connected.
func (p *Peer) Connects() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connects
}

// Lost counts the times a peer connection's ICE went disconnected or
// failed: a network drop is noticed when it grows.
func (p *Peer) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

// Attempts counts the Android rejoin attempts that found the connection
// down (and closed it, and sent leave and join if the socket was up).
func (p *Peer) Attempts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts
}

// Received returns the data channel texts received, in order.
func (p *Peer) Received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// Kind is the SDK the peer behaves as.
func (p *Peer) Kind() Kind { return p.opt.Kind }

// Pings counts the server's WebSocket pings the peer has answered.
func (p *Peer) Pings() int64 { return p.pings.Load() }

// RTPPackets counts the media packets received from the partner.
func (p *Peer) RTPPackets() int64 { return p.rtp.Load() }

// SendText sends text on the call's data channel; false when none is open.
func (p *Peer) SendText(text string) bool {
	p.mu.Lock()
	dc := p.dc
	p.mu.Unlock()
	return dc != nil && dc.ReadyState() == webrtc.DataChannelStateOpen && dc.SendText(text) == nil
}

// Describe is a one-line state for test failures.
func (p *Peer) Describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	state := "none"
	if p.pc != nil {
		state = p.pc.ICEConnectionState().String()
	}
	var last []string
	for _, f := range p.frames[max(len(p.frames)-12, 0):] {
		var m map[string]any
		json.Unmarshal([]byte(f), &m)
		last = append(last, strings.TrimSuffix(str(m, "command")+"/"+str(m, "definition")+str(m, "type"), "/"))
	}
	return fmt.Sprintf("%s: sockets %d, socket up %v, pc %s, connects %d, errors %v, got %q, last frames %v",
		p.opt.Kind, p.sockets, p.ws != nil, state, p.connects, p.errs, p.got, last)
}
