package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/protocol"
)

// Options configure a Client. The zero value is usable; zero fields get the
// defaults in brackets.
type Options struct {
	Logger *slog.Logger      // nil: discard
	Dialer *websocket.Dialer // nil: a dialer with a 10 s handshake timeout
	Header http.Header       // extra handshake headers (e.g. Origin)

	PingInterval time.Duration // application ping ("ping" → "pong") interval [5s]
	// ReadTimeout is how long the socket may stay silent (no message, no
	// pong, no WebSocket ping from the server) before it is deemed dead and
	// replaced [15s].
	ReadTimeout  time.Duration
	WriteTimeout time.Duration // deadline of one write [10s]
	// ReconnectMin and ReconnectMax bound the delay before a reconnect
	// attempt; it doubles per failed attempt, with jitter [250ms, 10s].
	ReconnectMin, ReconnectMax time.Duration
	// NetworkPollInterval is how often the machine's network addresses
	// are read to notice a network change (NetworkChanged); when the
	// socket's own address is gone the client moves to a new socket at
	// once instead of waiting for ReadTimeout [500ms; negative: never].
	NetworkPollInterval time.Duration
	MaxMessageBytes     int64 // largest message accepted from the server [1 MiB]
	EventBuffer         int   // events a Subscription holds before it is dropped as slow [256]

	// OnEvent, when set, gets every event first, on the client's reader
	// goroutine, in order (NetworkChanged comes from the network watcher's
	// goroutine). It must not block or call back into the Client
	// synchronously (Join waits for the reader).
	OnEvent func(Event)
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.PingInterval <= 0 {
		d.PingInterval = 5 * time.Second
	}
	if d.ReadTimeout <= 0 {
		d.ReadTimeout = 15 * time.Second
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = 10 * time.Second
	}
	if d.ReconnectMin <= 0 {
		d.ReconnectMin = 250 * time.Millisecond
	}
	if d.ReconnectMax < d.ReconnectMin {
		d.ReconnectMax = max(10*time.Second, d.ReconnectMin)
	}
	if d.NetworkPollInterval == 0 {
		d.NetworkPollInterval = 500 * time.Millisecond
	}
	if d.MaxMessageBytes <= 0 {
		d.MaxMessageBytes = 1 << 20
	}
	if d.EventBuffer <= 0 {
		d.EventBuffer = 256
	}
	return d
}

// Client is one signaling connection to a duet server. It is safe for
// concurrent use. Close it to end its goroutines.
type Client struct {
	url  string
	opts Options
	log  *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	wmu sync.Mutex // gorilla/websocket allows one writer at a time

	mu      sync.Mutex
	ws      *websocket.Conn // the open socket; nil while reconnecting
	closed  bool
	rooms   map[string]*roomState
	leaving map[string][]chan struct{}
	subs    map[*Subscription]struct{}
	ice     *protocol.ICEServerConfig
	addrs   map[string]bool // the machine's addresses at the last network poll
	lost    error           // why the client itself closed the current socket

	bg sync.WaitGroup // rejoins waiting for a token source, the network watcher
}

// roomState is a room the client is in or joining.
type roomState struct {
	opts        JoinOption
	resumeToken string // the newest from joined
	joined      bool   // the server confirmed the join on the current socket
	everJoined  bool   // the server confirmed a join of this room once
	rejoin      bool   // the join was sent again after a reconnect
	authRetries int    // rejoins refused for their token in a row
	waiters     []chan error
}

// errServerWillStop ends a socket the server is draining.
var errServerWillStop = errors.New("client: server will stop")

// Dial connects to a duet WebSocket URL (ws://host:5080/App/websocket). It
// returns once the socket is open; after that the client reconnects on its
// own until Close.
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		url:     url,
		opts:    o,
		log:     o.Logger.With("url", url),
		ctx:     cctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		rooms:   make(map[string]*roomState),
		leaving: make(map[string][]chan struct{}),
		subs:    make(map[*Subscription]struct{}),
	}
	ws, err := c.dial(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	c.ws = ws // before Dial returns, so that a Join right after it is sent
	if o.NetworkPollInterval > 0 {
		c.addrs = localAddrs()
		c.bg.Add(1)
		go c.watchNetwork()
	}
	go c.run(ws)
	return c, nil
}

// Join enters room and waits for the server's answer: nil once joined, a
// *ServerError (e.g. protocol.ErrNoSpaceForNewPeer) when refused. While the
// socket is down the join is sent after the reconnect. The client rejoins
// the room after every reconnect until Leave, with the newest resume token
// when the join asked to resume (WithResume) and a fresh token when it has
// a token source (WithTokenSource).
func (c *Client) Join(ctx context.Context, room string, opts ...JoinOption) error {
	if err := protocol.ValidateStreamID(room); err != nil {
		return fmt.Errorf("client: join %q: %w", room, err)
	}
	var o JoinOption
	for _, x := range opts {
		o = o.merge(x)
	}
	token, err := o.currentToken(ctx)
	if err != nil {
		return fmt.Errorf("client: join %q: token: %w", room, err)
	}
	ch := make(chan error, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	rs := c.rooms[room]
	if rs == nil {
		rs = &roomState{}
		c.rooms[room] = rs
	}
	rs.opts = o
	rs.waiters = append(rs.waiters, ch)
	msg := rs.joinMsg(room, token)
	c.mu.Unlock()
	// Not connected: the reconnect sends the join.
	if err := c.write(ctx, msg); err != nil && !errors.Is(err, ErrNotConnected) {
		c.abandonJoin(room, ch)
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		c.abandonJoin(room, ch)
		return ctx.Err()
	}
}

// abandonJoin forgets a join nobody waits for any more; when it may still
// succeed, a leave undoes it.
func (c *Client) abandonJoin(room string, ch chan error) {
	c.mu.Lock()
	rs := c.rooms[room]
	leave := false
	if rs != nil {
		for i, w := range rs.waiters {
			if w == ch {
				rs.waiters = append(rs.waiters[:i], rs.waiters[i+1:]...)
				break
			}
		}
		if !rs.joined && len(rs.waiters) == 0 {
			delete(c.rooms, room)
			leave = true
		}
	}
	c.mu.Unlock()
	if leave {
		c.write(context.Background(), roomWire{Command: protocol.CmdLeave, StreamID: room})
	}
}

// Leave leaves room and waits for the server's confirmation (leaved), or
// returns at once when the socket is down (the server then has already
// dropped the client from its rooms).
func (c *Client) Leave(ctx context.Context, room string) error {
	ch := make(chan struct{})
	c.mu.Lock()
	if rs := c.rooms[room]; rs != nil {
		for _, w := range rs.waiters {
			w <- ErrClosed
		}
		delete(c.rooms, room)
	}
	connected := c.ws != nil && !c.closed
	if connected {
		c.leaving[room] = append(c.leaving[room], ch)
	}
	c.mu.Unlock()
	if !connected {
		return nil
	}
	if err := c.write(ctx, roomWire{Command: protocol.CmdLeave, StreamID: room}); err != nil {
		return nil // the socket is gone, and the room with it
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send relays m (TakeConfiguration, TakeCandidate or PeerMessage) to the
// partner in m's room. It fails with ErrNotConnected while the socket is
// down; such messages are not queued, as the negotiation they belong to is
// over by the time the socket is back.
func (c *Client) Send(ctx context.Context, m Outgoing) error {
	return c.write(ctx, m.wire())
}

// ICEConfig returns the server's latest answer to getIceServerConfig (sent
// on every socket open) and whether there was one.
func (c *Client) ICEConfig() (protocol.ICEServerConfig, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ice == nil {
		return protocol.ICEServerConfig{}, false
	}
	return *c.ice, true
}

// Rooms lists the rooms the client is in or joining.
func (c *Client) Rooms() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	rooms := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// Close closes the socket (the server then drops the client from its
// rooms; partners get stop), ends every subscription with ErrClosed and
// waits for the client's goroutines. It is safe to call more than once.
func (c *Client) Close() error {
	c.cancel()
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		ws.Close()
	}
	<-c.done
	c.bg.Wait()
	return nil
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	d := c.opts.Dialer
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	}
	ws, resp, err := d.DialContext(ctx, c.url, c.opts.Header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
		}
		return nil, fmt.Errorf("client: dial %s: %w", c.url, err)
	}
	ws.SetReadLimit(c.opts.MaxMessageBytes)
	return ws, nil
}

// write sends one message on the current socket.
func (c *Client) write(ctx context.Context, v any) error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	return c.writeOn(ctx, ws, v)
}

// writeOn sends one message on ws, which may no longer be current.
func (c *Client) writeOn(ctx context.Context, ws *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("client: encode: %w", err)
	}
	if ws == nil {
		return ErrNotConnected
	}
	deadline := time.Now().Add(c.opts.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ws.SetWriteDeadline(deadline)
	if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
		ws.Close() // the reader notices and reconnects
		return fmt.Errorf("%w: %v", ErrNotConnected, err)
	}
	return nil
}

// run owns the connection: it serves a socket until it is lost, then
// redials with backoff, until Close.
func (c *Client) run(ws *websocket.Conn) {
	defer close(c.done)
	defer c.shutdown()
	reconnect, drained, moved := false, false, false
	for attempt := 0; ; attempt++ {
		if ws != nil {
			err := c.serve(ws, reconnect)
			if c.ctx.Err() != nil {
				return
			}
			c.log.Info("signaling socket lost", "err", err)
			c.emit(Disconnected{Err: err})
			// Told to move: reconnect soon, spread out; our address is
			// gone: reconnect now, over what is left.
			drained, moved = errors.Is(err, errServerWillStop), errors.Is(err, errNetworkChanged)
			reconnect, attempt = true, 0
		}
		delay := c.backoff(attempt, drained)
		if moved && attempt == 0 {
			delay = 0
		}
		t := time.NewTimer(delay)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		dctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		var err error
		ws, err = c.dial(dctx)
		cancel()
		if err != nil {
			c.log.Debug("reconnect failed", "attempt", attempt+1, "err", err)
		}
	}
}

// backoff is the delay before reconnect attempt n (0 is the first after a
// loss): exponential with jitter, so that a drained server's clients do not
// all come back at once.
func (c *Client) backoff(n int, drained bool) time.Duration {
	lo := c.opts.ReconnectMin
	if drained && n == 0 {
		return rand.N(lo) // the server asked us to move: go now, spread out
	}
	d := lo << min(n, 16)
	if d > c.opts.ReconnectMax || d <= 0 {
		d = c.opts.ReconnectMax
	}
	return d/2 + rand.N(d/2+1)
}

// serve runs one socket until it ends and returns why.
func (c *Client) serve(ws *websocket.Conn, reconnect bool) error {
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		ws.Close()
		return ErrClosed
	}
	c.ws = ws
	var rejoin []string
	if reconnect {
		for name, rs := range c.rooms {
			rs.joined, rs.rejoin = false, true
			rejoin = append(rejoin, name)
		}
	}
	c.mu.Unlock()
	sctx, scancel := context.WithCancel(c.ctx) // ends with this socket
	defer scancel()

	readTimeout := c.opts.ReadTimeout
	ws.SetPingHandler(func(data string) error {
		ws.SetReadDeadline(time.Now().Add(readTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opts.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	c.emit(Connected{Reconnect: reconnect})
	c.write(c.ctx, roomWire{Command: protocol.CmdGetIceServer})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.pinger(stop)
	}()
	go func() { // a token source may take a while: the reader runs meanwhile
		defer wg.Done()
		for _, room := range rejoin {
			c.sendJoin(sctx, ws, room)
		}
	}()
	err := c.readLoop(ws)
	close(stop)
	scancel()
	ws.Close()
	wg.Wait()

	c.mu.Lock()
	if c.lost != nil {
		err, c.lost = c.lost, nil
	}
	c.ws = nil
	for _, rs := range c.rooms {
		rs.joined = false
	}
	for room, ws := range c.leaving { // the server drops a lost socket from its rooms
		for _, ch := range ws {
			close(ch)
		}
		delete(c.leaving, room)
	}
	c.mu.Unlock()
	return err
}

func (c *Client) pinger(stop <-chan struct{}) {
	t := time.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.write(c.ctx, roomWire{Command: protocol.CmdPing})
		}
	}
}

func (c *Client) readLoop(ws *websocket.Conn) error {
	for {
		ws.SetReadDeadline(time.Now().Add(c.opts.ReadTimeout))
		typ, frame, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if typ != websocket.TextMessage {
			continue
		}
		ev, ok, err := decodeEvent(frame)
		if err != nil {
			c.log.Debug("undecodable message from server", "err", err)
			continue
		}
		if !ok {
			continue
		}
		c.handle(ev)
		if _, ok := ev.(ServerWillStop); ok {
			c.log.Info("server will stop: moving to a new socket")
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""),
				time.Now().Add(time.Second))
			return errServerWillStop
		}
	}
}

// handle updates the client's state from ev, then passes ev on.
func (c *Client) handle(ev Event) {
	c.mu.Lock()
	var waiters []chan error
	var result error
	switch e := ev.(type) {
	case Joined:
		if rs := c.rooms[e.Room]; rs != nil {
			e.Rejoin = rs.rejoin
			rs.joined, rs.everJoined, rs.rejoin, rs.authRetries = true, true, false, 0
			if e.ResumeToken != "" {
				rs.resumeToken = e.ResumeToken
			}
			waiters, rs.waiters = rs.waiters, nil
			ev = e
		}
	case *ServerError:
		if e.Definition == protocol.ErrNotInRoom { // a leave the server had nothing to do for
			for _, ch := range c.leaving[e.Room] {
				close(ch)
			}
			delete(c.leaving, e.Room)
		}
		if rs := c.rooms[e.Room]; rs != nil && e.Room != "" && !rs.joined && joinFailure(e.Definition) {
			if c.retryAuthLocked(e.Room, rs, e.Definition) {
				break // a fresh token is on its way; the error is only news
			}
			e.Join = true
			waiters, result = rs.waiters, e
			delete(c.rooms, e.Room)
		}
	case Leaved:
		for _, ch := range c.leaving[e.Room] {
			close(ch)
		}
		delete(c.leaving, e.Room)
	case ICEConfig:
		cfg := e.Config
		c.ice = &cfg
	}
	c.mu.Unlock()
	for _, w := range waiters {
		w <- result
	}
	c.emit(ev)
}

// emit passes ev to the callback and to every subscription that wants it.
// It never blocks on a subscriber: one that is full is dropped.
func (c *Client) emit(ev Event) {
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(ev)
	}
	room := ev.EventRoom()
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.subs {
		if s.room != "" && room != "" && s.room != room {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			c.log.Warn("subscription dropped: events not read", "room", s.room)
			c.dropLocked(s, ErrSlowConsumer)
		}
	}
}

// shutdown ends everything that waits on the client once run returns.
func (c *Client) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for s := range c.subs {
		c.dropLocked(s, ErrClosed)
	}
	for _, rs := range c.rooms {
		for _, w := range rs.waiters {
			w <- ErrClosed
		}
		rs.waiters = nil
	}
	for room, ws := range c.leaving {
		for _, ch := range ws {
			close(ch)
		}
		delete(c.leaving, room)
	}
}
