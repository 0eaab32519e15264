package client

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Mesh is one member of a room with any number of others: a group call
// (docs/protocol.md, Mesh rooms). It runs one Peer per other member — the
// same negotiation engine as a call of two, fed that member's messages —
// so every pair has its own Session with renegotiation, ICE restarts,
// resume and recognition after a server restart. In a room of two (a
// server or app without mesh rooms, or a room whose first joiner did not
// ask for one) it is a Peer with its one partner.
//
// In each pair the member that was in the room first offers: a Mesh that
// joins answers every member already there, and offers to every newcomer.
type Mesh struct {
	c    *Client
	room string
	opts MeshOptions
	sub  *Subscription

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup // pairs' engines being closed, Accept relays

	sessions chan MeshSession
	first    chan struct{} // closed once the first joined is dispatched
	once     sync.Once

	mu    sync.Mutex
	self  string // our member id ("" in a room of two)
	max   int    // the room's limit (Joined.MaxPeers)
	pairs map[string]*pair
	// known are the members' sessions by id, from joined and start:
	// a pair made by its member's offer learns its session here.
	known map[string]string
	err   error
}

// pair is the engine of our call with one member.
type pair struct {
	p       *Peer
	feed    *feed
	session string   // the member's call-session id, when it sent one
	sess    *Session // its newest connected session (guarded by Mesh.mu)
}

// MeshOptions configure a Mesh.
type MeshOptions struct {
	// Peer is the template of every pair's engine: OnPeerConnection adds
	// the local tracks to each PeerConnection; OnEvent gets every pair's
	// events with PeerEvent.Peer set. Its JoinOptions and SessionID are
	// the room's join.
	Peer PeerOptions
	// MaxPeers is the room's limit asked for if this member is its first
	// joiner; the server caps it by its max_peers [4].
	MaxPeers int
}

// MeshSession is a connected pair: Peer is the other member's id ("" in
// a room of two).
type MeshSession struct {
	Peer string
	*Session
}

// JoinMesh joins room on c as a mesh client and returns once joined.
// errors.Is(err, protocol.ErrNoSpaceForNewPeer) tells a full room.
func JoinMesh(ctx context.Context, c *Client, room string, opts *MeshOptions) (*Mesh, error) {
	var o MeshOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxPeers <= 0 {
		o.MaxPeers = 4
	}
	if o.Peer.SessionID == "" {
		o.Peer.SessionID = NewSessionID()
	}
	// One API for every pair: build it once through a template engine.
	tmpl, err := newEngine(c, room, &o.Peer)
	if err != nil {
		return nil, err
	}
	tmpl.cancel()
	o.Peer.API = tmpl.api
	mctx, cancel := context.WithCancel(context.Background())
	m := &Mesh{c: c, room: room, opts: o, ctx: mctx, cancel: cancel, done: make(chan struct{}),
		sessions: make(chan MeshSession, 64), pairs: make(map[string]*pair), first: make(chan struct{}),
		known: make(map[string]string)}
	m.sub = c.Subscribe(room)
	jo := append([]JoinOption{WithSession(o.Peer.SessionID), WithResume(), WithMaxPeers(o.MaxPeers)}, o.Peer.JoinOptions...)
	if err := c.Join(ctx, room, jo...); err != nil {
		m.sub.Close()
		cancel()
		return nil, err
	}
	go m.run()
	// The joined is on its way to run: wait for it, so that ID and
	// MaxPeers are known on return.
	select {
	case <-m.first:
	case <-m.done:
		m.Close()
		return nil, m.Err()
	case <-ctx.Done():
		m.Close()
		return nil, ctx.Err()
	}
	return m, nil
}

// ID is this member's id in a mesh room ("" in a room of two).
func (m *Mesh) ID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self
}

// MaxPeers is the room's limit as the server last said (2: a room of two;
// 0: a server that does not know mesh rooms).
func (m *Mesh) MaxPeers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.max
}

// Peers returns the engines of the current pairs by member id.
func (m *Mesh) Peers() map[string]*Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*Peer, len(m.pairs))
	for id, pr := range m.pairs {
		out[id] = pr.p
	}
	return out
}

// Accept waits for the next pair whose data channel is open.
func (m *Mesh) Accept(ctx context.Context) (MeshSession, error) {
	select {
	case s := <-m.sessions:
		return s, nil
	case <-m.done:
		return MeshSession{}, m.Err()
	case <-ctx.Done():
		return MeshSession{}, ctx.Err()
	}
}

// Err is why the mesh stopped, or nil while it runs.
func (m *Mesh) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Broadcast sends data on the data channel of every connected pair and
// returns how many it went to and the first error.
func (m *Mesh) Broadcast(ctx context.Context, data []byte) (int, error) {
	var first error
	n := 0
	for _, s := range m.open() {
		if err := s.Send(ctx, data); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	return n, first
}

// Flush waits until what was sent to every connected pair has gone out.
func (m *Mesh) Flush(ctx context.Context) error {
	var first error
	for _, s := range m.open() {
		if err := s.Flush(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m *Mesh) open() []*Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	var open []*Session
	for _, pr := range m.pairs {
		if pr.sess != nil && pr.sess.Err() == nil {
			open = append(open, pr.sess)
		}
	}
	return open
}

// Close leaves the room, ends every pair and waits for them.
func (m *Mesh) Close() error {
	select {
	case <-m.done:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m.c.Leave(ctx, m.room)
		cancel()
		m.cancel()
		<-m.done
	}
	m.sub.Close()
	m.wg.Wait()
	return nil
}

func (m *Mesh) run() {
	defer close(m.done)
	stop := func(err error) {
		m.mu.Lock()
		if m.err == nil {
			m.err = err
		}
		ps := m.pairs
		m.pairs = map[string]*pair{}
		m.mu.Unlock()
		for _, pr := range ps {
			m.drop(pr)
		}
	}
	for {
		select {
		case <-m.ctx.Done():
			stop(ErrClosed)
			return
		case ev, ok := <-m.sub.Events():
			if !ok {
				stop(fmt.Errorf("client: room %s: %w", m.room, m.sub.Err()))
				return
			}
			if se, ok := ev.(*ServerError); ok && se.Join {
				stop(se)
				return
			}
			m.dispatch(ev)
		}
	}
}

// dispatch gives one event to the pairs it concerns. Only the mesh's
// goroutine changes the pairs.
func (m *Mesh) dispatch(ev Event) {
	switch e := ev.(type) {
	case Joined:
		m.joined(e)
	case Start:
		m.start(e)
	case Stop:
		m.stop(e)
	case PeerReconnecting:
		m.to(e.Peer, e, false)
	case PeerReconnected:
		m.to(e.Peer, e, false)
	case TakeConfiguration:
		m.to(e.Peer, e, true)
	case TakeCandidate:
		m.to(e.Peer, e, true)
	case PeerMessage:
		m.to(e.Peer, e, true)
	default:
		// The socket's events (and errors) concern every pair.
		for _, pr := range m.snapshot() {
			pr.feed.push(ev)
		}
	}
}

func (m *Mesh) snapshot() []*pair {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*pair, 0, len(m.pairs))
	for _, pr := range m.pairs {
		out = append(out, pr)
	}
	return out
}

// joined: our (re)join was confirmed. In a room of two the one engine
// takes it as it is. In a mesh room each pair learns whether its member
// is still there: by id, or, after a server that lost its state gave
// everyone new ids, by session (the pair takes its member's new id).
func (m *Mesh) joined(e Joined) {
	m.mu.Lock()
	m.self, m.max = e.PeerID, e.MaxPeers
	m.mu.Unlock()
	defer m.once.Do(func() { close(m.first) })
	if e.PeerID == "" {
		pr := m.pair("", e.PeerSession)
		pr.feed.push(e)
		return
	}
	m.mu.Lock()
	m.known = make(map[string]string, len(e.Peers))
	for _, mp := range e.Peers {
		if mp.Session != "" {
			m.known[mp.ID] = mp.Session
		}
	}
	m.mu.Unlock()
	for _, mp := range e.Peers {
		m.rekey(mp.ID, mp.Session)
	}
	for id, pr := range m.snapshotByID() {
		je := Joined{Room: e.Room, Rejoin: e.Rejoin, Resumed: e.Resumed, ResumeToken: e.ResumeToken,
			ReconnectGrace: e.ReconnectGrace, MaxPeers: e.MaxPeers, PeerID: e.PeerID}
		for _, mp := range e.Peers {
			if mp.ID == id {
				je.PeerSession = mp.Session
			}
		}
		pr.feed.push(je)
	}
}

func (m *Mesh) snapshotByID() map[string]*pair {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*pair, len(m.pairs))
	for id, pr := range m.pairs {
		out[id] = pr
	}
	return out
}

// rekey moves the pair whose member has session to id, when the member
// came back under a new id (the server lost its state).
func (m *Mesh) rekey(id, session string) {
	if session == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.pairs[id]
	if cur != nil && cur.session == session {
		return
	}
	old := ""
	for k, pr := range m.pairs {
		if k != "" && pr.session == session {
			old = k
		}
	}
	if old == "" {
		return
	}
	if cur != nil {
		// The id is another member's from before the server lost its
		// state: that pair waits aside until its member shows up.
		delete(m.pairs, id)
		m.pairs["~"+id] = cur
		cur.p.setPeerID("~" + id)
	}
	pr := m.pairs[old]
	delete(m.pairs, old)
	m.pairs[id] = pr
	pr.p.setPeerID(id)
}

// start: a member joined and we offer to it (or it is a member we are
// still connected to, back under a new id).
func (m *Mesh) start(e Start) {
	if m.ID() == "" {
		m.pair("", e.PeerSession).feed.push(e)
		return
	}
	if e.PeerSession != "" {
		m.mu.Lock()
		m.known[e.Peer] = e.PeerSession
		m.mu.Unlock()
	}
	m.rekey(e.Peer, e.PeerSession)
	m.pair(e.Peer, e.PeerSession).feed.push(e)
}

// stop: a member left. Its pair hears it; a member that hung up (or was
// removed) takes its pair with it. A stop without a peer in a mesh room
// removed us: every pair ends.
func (m *Mesh) stop(e Stop) {
	if m.ID() == "" {
		if pr := m.existing(""); pr != nil {
			pr.feed.push(e)
		}
		return
	}
	if e.Peer == "" {
		for _, pr := range m.snapshot() {
			pr.feed.push(e)
		}
		return
	}
	pr := m.existing(e.Peer)
	if pr == nil {
		return
	}
	pr.feed.push(e)
	if e.Reason == ReasonLeft || e.Reason == ReasonKicked {
		m.mu.Lock()
		delete(m.pairs, e.Peer)
		m.mu.Unlock()
		m.drop(pr)
	}
}

// to gives e to the pair of member id, making the pair when create (a
// member that offers to us).
func (m *Mesh) to(id string, e Event, create bool) {
	if m.ID() == "" {
		id = ""
	}
	pr := m.existing(id)
	if pr == nil && create {
		pr = m.pair(id, "")
	}
	if pr != nil {
		pr.feed.push(e)
	}
}

func (m *Mesh) existing(id string) *pair {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pairs[id]
}

// pair returns member id's pair, starting its engine: a new one first
// hears that we are in the room (a Joined naming its member's session).
func (m *Mesh) pair(id, session string) *pair {
	m.mu.Lock()
	if session == "" {
		session = m.known[id]
	}
	pr := m.pairs[id]
	if pr != nil {
		if session != "" {
			pr.session = session
		}
		m.mu.Unlock()
		return pr
	}
	o := m.opts.Peer
	p, err := newEngine(m.c, m.room, &o)
	if err != nil {
		m.mu.Unlock()
		panic(err) // the API was built once already: nothing here can fail
	}
	p.peer, p.mesh = id, m // before its goroutine starts
	if id != "" {
		p.log = p.log.With("peer", id)
	}
	f := newFeed(m.c.opts.EventBuffer)
	p.sub = f
	pr = &pair{p: p, feed: f, session: session}
	m.pairs[id] = pr
	self := m.self
	m.mu.Unlock()
	if id != "" {
		f.push(Joined{Room: m.room, PeerID: self, PeerSession: session})
	}
	if id == "" {
		// Quality reports are a call of two's (one call per room).
		p.startQuality()
	}
	go p.run()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			s, err := p.Accept(m.ctx)
			if err != nil {
				return
			}
			m.mu.Lock()
			pr.sess = s
			m.mu.Unlock()
			select {
			case m.sessions <- MeshSession{Peer: p.peerID(), Session: s}:
			case <-m.ctx.Done():
				return
			}
		}
	}()
	return pr
}

// drop ends a pair's engine without waiting on the mesh's goroutine.
func (m *Mesh) drop(pr *pair) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		pr.p.Close()
	}()
}

// eventSource is what a Peer reads its events from: a Client's
// Subscription to its room, or, in a Mesh, its pair's feed.
type eventSource interface {
	Events() <-chan Event
	Err() error
	Close()
}

// feed is a pair's events, pushed by its Mesh. A pair that falls
// EventBuffer events behind is closed with ErrSlowConsumer, as a
// Subscription is.
type feed struct {
	ch     chan Event
	mu     sync.Mutex
	closed bool
	err    error
}

func newFeed(n int) *feed { return &feed{ch: make(chan Event, max(n, 16))} }

func (f *feed) push(e Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	select {
	case f.ch <- e:
	default:
		f.closed, f.err = true, ErrSlowConsumer
		close(f.ch)
	}
}

// Events implements eventSource.
func (f *feed) Events() <-chan Event { return f.ch }

// Err implements eventSource.
func (f *feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Close implements eventSource.
func (f *feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed, f.err = true, ErrClosed
		close(f.ch)
	}
}

// send relays m to the partner: in a Mesh, to this pair's member.
func (p *Peer) send(m Outgoing) error {
	if id := p.peerID(); id != "" {
		switch x := m.(type) {
		case TakeConfiguration:
			x.Peer = id
			m = x
		case TakeCandidate:
			x.Peer = id
			m = x
		case PeerMessage:
			x.Peer = id
			m = x
		}
	}
	return p.c.Send(p.ctx, m)
}

func (p *Peer) peerID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peer
}

func (p *Peer) setPeerID(id string) {
	p.mu.Lock()
	p.peer = id
	p.mu.Unlock()
}
