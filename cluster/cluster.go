// Package cluster is the clustered room backend: a hub.Rooms whose rooms
// span several duet nodes, built on NATS.
//
// Room membership lives in a JetStream key-value bucket, one key per room
// holding its member ids, changed only by compare-and-set: a node reads a
// room, runs the pure room.Room transition on it and writes it back on the
// revision it read, retrying when another node got there first. So two
// joins racing on different nodes can never both take the last seat.
//
// Everything else is core NATS. Each node listens on its own subject for
// frames relayed to its sockets and for room transitions concerning them,
// and on a control subject for liveness probes and kills. Every node
// publishes a heartbeat; a node silent for too long is declared dead by
// each survivor, which removes the dead node's partners of its own sockets
// from their rooms (by compare-and-set) and sends them stop.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duet-rtc/duet/cluster/kv"
	"github.com/duet-rtc/duet/cluster/link"
	"github.com/duet-rtc/duet/cluster/live"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

var validNodeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

const (
	subjectHeartbeat = "duet.hb"   // payload: the incarnation
	subjectDead      = "duet.dead" // payload: an incarnation a survivor has declared dead
	subjectBye       = "duet.bye"  // payload: the incarnation of a node that stops cleanly
)

// Per-incarnation subjects: frames and transitions for its sockets,
// probes and kills, and acknowledgements of what it sent.
func dataSubject(inc string) string { return "duet.node." + inc }
func ctlSubject(inc string) string  { return "duet.ctl." + inc }
func ackSubject(inc string) string  { return "duet.ack." + inc }

// Cluster is one node's view of a clustered room backend. It implements
// hub.Rooms.
//
// Lock order: a member's mu (seats.go), then mu (the member tables),
// then holdMu, then the leaves: pendMu, lifeMu (spawn and run), HoldCaps'
// lock, the clock's (a timer set or stopped) and a Conn's own (Send).
// Never two members' locks together. Nothing under any of them publishes,
// kills, probes or logs, and no bucket operation runs under any: those
// wait for the lock's release (a member's outbox, unlockFlush).
type Cluster struct {
	opt   Options
	rules room.Rules // the seat rules (room.Seats) as configured
	id    string     // node id
	inc   string     // this incarnation: node id and epoch
	log   *slog.Logger
	ctl   bus // control: heartbeats, probes, kills, acknowledgements, operators
	data  bus // data: relayed frames and room transitions, in order
	// openStore opens (or creates) the membership bucket; created
	// reports whether it made it.
	openStore func(ctx context.Context) (store kv.Store, created bool, err error)
	kv        atomic.Pointer[kvBox] // the membership bucket, opened afresh by recovery
	met       *metrics
	live      *live.View
	out       *link.Out[sender] // frames and transitions to other nodes, held until acknowledged
	in        *link.In          // sequence state of what comes from other nodes

	mu      sync.RWMutex
	byConn  map[hub.Conn]*member
	byNum   map[uint64]*member
	rooms   map[hub.Key]int // local members per room with at least one
	nextNum atomic.Uint64

	// ready is true while connected to NATS and done recovering from the
	// last outage; joins are refused otherwise.
	ready        atomic.Bool
	superseded   atomic.Bool // a newer process runs with this node id
	sweeping     atomic.Bool // a sweep runs
	recovering   atomic.Bool // a recovery runs (recover)
	recoverAgain atomic.Bool // and another is asked for
	checking     atomic.Bool // a bucket check runs
	pendMu       sync.Mutex
	pending      []pendingLeave // leaves that happened while cut off

	evictions, probes atomic.Int64

	clock        Clock
	holdMu       sync.Mutex
	holds        map[seatID]*holdWatch // holds this node wrote and watches (hold.go)
	holdsClosed  bool
	holdSweeping atomic.Bool
	resumes      atomic.Int64
	expiries     atomic.Int64

	ops clusterOps // listings, kicks and room events (ops*.go)

	stop      chan struct{}
	active    atomic.Int64 // goroutines of spawn and run at work (tests wait for none)
	lifeMu    sync.Mutex   // guards closed and wg.Add against Close's wg.Wait
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ hub.Rooms = (*Cluster)(nil)

// New connects to NATS, creates or opens the membership bucket, starts
// this node's subscriptions and heartbeat, and returns the backend.
func New(ctx context.Context, opt Options) (*Cluster, error) {
	if opt.URL == "" {
		return nil, ErrNoURL
	}
	c, err := newNode(opt)
	if err != nil {
		return nil, err
	}
	opt = c.opt
	// Two connections, so that a burst of relayed frames queued towards
	// this node cannot delay the bucket's replies or the heartbeats behind
	// it: a node must not be declared dead because its peers talk a lot.
	conns := make([]*nats.Conn, 2)
	for i, role := range []string{"control", "data"} {
		nopts := append([]nats.Option{
			nats.Name("duet " + opt.NodeID + " " + role),
			nats.MaxReconnects(-1),
			// A node started before NATS waits for it (waitBucket
			// bounds the wait), as one that lost NATS does.
			nats.RetryOnFailedConnect(true),
			// A link that stops carrying packets is noticed in 15 s, not
			// in the default two minutes (a failing bucket operation
			// makes the node unready sooner, see checkBucket).
			nats.PingInterval(5 * time.Second),
			nats.MaxPingsOutstanding(3),
			nats.ReconnectWait(100 * time.Millisecond),
			nats.ReconnectJitter(100*time.Millisecond, time.Second),
			nats.DisconnectErrHandler(c.disconnected),
			nats.ReconnectHandler(c.reconnected),
		}, opt.NATSOptions...)
		nc, err := nats.Connect(opt.URL, nopts...)
		if err != nil {
			for _, nc := range conns[:i] {
				nc.Close()
			}
			return nil, fmt.Errorf("cluster: connect to NATS: %w", err)
		}
		conns[i] = nc
	}
	c.ctl, c.data = natsBus{nc: conns[0]}, natsBus{nc: conns[1], deep: true}
	c.openStore = func(ctx context.Context) (kv.Store, bool, error) { return openBucket(ctx, conns[0], opt) }
	if err := c.start(ctx, true); err != nil {
		return nil, err
	}
	c.log.Info("cluster node started", "nats", conns[0].ConnectedUrlRedacted(), "bucket", opt.Bucket)
	return c, nil
}

// newNode makes a node of options opt, with its defaults, connected to
// nothing yet.
func newNode(opt Options) (*Cluster, error) {
	if opt.NodeID == "" {
		var b [6]byte
		rand.Read(b[:])
		opt.NodeID = hex.EncodeToString(b[:])
	}
	if !validNodeID.MatchString(opt.NodeID) {
		return nil, ErrBadNodeID
	}
	setDefault(&opt.Bucket, "duet_rooms")
	setDefault(&opt.Replicas, 1)
	setDefault(&opt.ProbeTimeout, 2*time.Second)
	setDefault(&opt.Heartbeat, 250*time.Millisecond)
	setDefault(&opt.DeadAfter, 1500*time.Millisecond)
	setDefault(&opt.OpTimeout, 2*time.Second)
	setDefault(&opt.StartTimeout, 60*time.Second)
	setDefault(&opt.RelayBuffer, 8<<20)
	setDefault(&opt.RelayHold, 10*time.Second)
	setDefault(&opt.HoldBytes, 1<<20)
	setDefault(&opt.HoldSweep, 5*time.Second)
	opt.ReconnectGrace = max(opt.ReconnectGrace, 0)
	if opt.Clock == nil {
		opt.Clock = systemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	met, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	inc := live.Incarnation(opt.NodeID, live.NewEpoch(now))
	return &Cluster{
		opt: opt, id: opt.NodeID, inc: inc, log: opt.Logger.With("node", opt.NodeID, "incarnation", inc), met: met,
		live:   live.New(inc, opt.DeadAfter, now),
		byConn: map[hub.Conn]*member{}, byNum: map[uint64]*member{}, rooms: map[hub.Key]int{},
		clock: opt.Clock, holds: map[seatID]*holdWatch{},
		rules: room.Rules{Grace: opt.ReconnectGrace, HoldBytes: opt.HoldBytes},
		stop:  make(chan struct{}),
	}, nil
}

// start opens the bucket on c's buses, subscribes and announces the node;
// loops starts its heartbeat, its links' ticks and its sweep of held
// seats (a test drives those itself).
func (c *Cluster) start(ctx context.Context, loops bool) error {
	c.newLinks()
	if err := c.init(ctx); err != nil {
		close(c.stop) // quiet: the disconnect handler sees a node that is closing
		c.ctl.Close()
		c.data.Close()
		c.wg.Wait() // a recovery a reconnect started meanwhile
		return err
	}
	c.ready.Store(true)
	c.met.connected.Set(1)
	if loops {
		c.spawn(c.heartbeatLoop)
		c.spawn(c.linkLoop)
		if c.holding() {
			c.spawn(c.holdSweepLoop)
		}
	}
	return nil
}

func (c *Cluster) init(ctx context.Context) error {
	if err := c.waitBucket(ctx); err != nil {
		return err
	}
	if err := c.data.Subscribe(dataSubject(c.inc), c.onData); err != nil {
		return err
	}
	for subj, h := range map[string]func(busMsg){
		ctlSubject(c.inc): c.onCtl, ackSubject(c.inc): c.onAck,
		subjectHeartbeat: c.onHeartbeat, subjectDead: c.onDead, subjectBye: c.onBye,
	} {
		if err := c.ctl.Subscribe(subj, h); err != nil {
			return err
		}
	}
	if err := c.startOps(); err != nil {
		return err
	}
	// Announce ourselves before the first join, so that no node sees our
	// members before it has heard of us, and every node that knew an
	// earlier life of this node id buries it now.
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	if err := c.data.Flush(ctx); err != nil {
		return err
	}
	c.ctl.Publish(subjectHeartbeat, []byte(c.inc))
	return c.ctl.Flush(ctx)
}

// kvBox holds the bucket for an atomic swap.
type kvBox struct{ kv.Store }

// bucket is the membership bucket.
func (c *Cluster) bucket() kv.Store { return c.kv.Load().Store }

// seatID names one member's seat in one room.
type seatID struct {
	member string
	k      hub.Key
}

// clusterOps is what a node keeps for operators beyond the rooms: the
// observer of room events and this node's description.
type clusterOps struct {
	observer hub.Observer
	nodeInfo func() hub.NodeInfo
	started  time.Time
}

var _ hub.Observable = (*Cluster)(nil)

// SetObserver implements hub.Observable.
func (c *Cluster) SetObserver(o hub.Observer) { c.ops.observer = o }

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// ID is this node's id.
func (c *Cluster) ID() string { return c.id }

// Incarnation is this process's life of the node: the node id and an
// epoch made at start.
func (c *Cluster) Incarnation() string { return c.inc }

// Close stops this node cleanly: it says goodbye, so that the other nodes
// forget it at once without declaring it dead, and closes the NATS
// connections. Sockets should have left their rooms first (the server
// drains before Close); the others remove any member left behind when
// they hear the goodbye.
func (c *Cluster) Close() { c.shutdown(false) }

// Abort simulates a crash for tests and emergencies: the NATS connection
// is closed at once, nothing is cleaned up, and the other nodes learn of
// it only from the missing heartbeats.
func (c *Cluster) Abort() { c.shutdown(true) }

func (c *Cluster) disconnected(_ *nats.Conn, err error) {
	c.ready.Store(false)
	c.met.connected.Set(0)
	select {
	case <-c.stop:
		return // closing
	default:
	}
	c.log.Warn("lost NATS connection: joins refused until it is back", "err", err)
}

func (c *Cluster) reconnected(nc *nats.Conn) {
	c.log.Info("NATS connection back", "url", nc.ConnectedUrlRedacted())
	c.spawn(c.recover)
}

// startSweep runs a sweep on its own goroutine unless one runs already: a
// sweep after a big node's death makes one KV update per member, and the
// heartbeats must go on meanwhile or this node would be declared dead too.
func (c *Cluster) startSweep() {
	if c.sweeping.CompareAndSwap(false, true) {
		c.spawn(func() {
			defer c.sweeping.Store(false)
			c.sweep()
		})
	}
}

// spawn runs f on a goroutine that Close waits for, unless closing began.
func (c *Cluster) spawn(f func()) {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed {
		return
	}
	c.wg.Add(1)
	c.active.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.active.Add(-1)
		f()
	}()
}

// run runs f on the calling goroutine (a timer's) as work Close waits
// for, unless closing began.
func (c *Cluster) run(f func()) {
	c.lifeMu.Lock()
	if c.closed {
		c.lifeMu.Unlock()
		return
	}
	c.wg.Add(1)
	c.active.Add(1)
	c.lifeMu.Unlock()
	defer c.wg.Done()
	defer c.active.Add(-1)
	f()
}

// shutdown stops the background work; abort skips the flush of what is
// still queued for NATS.
func (c *Cluster) shutdown(abort bool) {
	c.closeOnce.Do(func() {
		c.lifeMu.Lock()
		c.closed = true
		c.lifeMu.Unlock()
		close(c.stop)
		c.ready.Store(false)
		if abort {
			c.ctl.Close()
			c.data.Close()
		}
		c.wg.Wait()
		if !abort {
			c.farewell()
			c.data.Close()
			c.ctl.Close()
		}
		c.stopGapTimers()
	})
}

// farewell lets the links deliver what they hold (the stops of the
// drain's last leaves), then says goodbye: after the data, so that no
// node forgets this one before it has what this one sent it.
func (c *Cluster) farewell() {
	deadline := time.Now().Add(c.opt.OpTimeout)
	for c.connected() && c.out.Held() > 0 && time.Now().Before(deadline) {
		c.out.Tick(time.Now())
		time.Sleep(link.TickEvery / 5) // acknowledgements arrive on their own subscription
	}
	ctx, cancel := c.opCtx(context.Background())
	defer cancel()
	c.data.Flush(ctx)
	if c.ctl.Connected() {
		c.ctl.Publish(subjectBye, []byte(c.inc))
	}
	c.ctl.Flush(ctx)
}

// connected reports whether both connections are up.
func (c *Cluster) connected() bool { return c.ctl.Connected() && c.data.Connected() }

// opCtx bounds one bucket operation.
func (c *Cluster) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opt.OpTimeout)
}
