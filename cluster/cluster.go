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
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/hub"
)

// Options configure one node of a cluster. Zero values get defaults.
type Options struct {
	// URL is one or more NATS server URLs, comma-separated. Required.
	URL string
	// NodeID names this node on the cluster's subjects; empty: random.
	// Two live nodes must never share one.
	NodeID string
	// Bucket is the membership bucket's name (default "duet_rooms").
	Bucket string
	// Replicas of the membership bucket: 3 on a three-node NATS cluster.
	Replicas int
	// MemoryStorage keeps the bucket in memory instead of on disk: faster,
	// but a NATS restart forgets every room.
	MemoryStorage bool
	// ProbeTimeout bounds how long a member of a full room has to answer a
	// liveness probe (default 2 s).
	ProbeTimeout time.Duration
	// Heartbeat is the interval of this node's announcements (default
	// 250 ms); DeadAfter the silence after which a node is declared dead
	// (default 1.5 s), so a dead node is noticed within DeadAfter plus one
	// Heartbeat.
	Heartbeat, DeadAfter time.Duration
	// OpTimeout bounds one bucket operation (default 2 s).
	OpTimeout time.Duration
	// StartTimeout bounds how long New waits for NATS and JetStream to
	// answer (default 60 s): a NATS cluster that has just started needs
	// seconds to elect its leaders.
	StartTimeout time.Duration
	// RelayBuffer bounds the bytes of relayed frames and room transitions
	// held per destination node until that node acknowledges them (default
	// 8 MiB); RelayHold how long they are held (default 10 s). Past either
	// bound the held frames are dropped and their senders get
	// relayFailed.
	RelayBuffer int
	RelayHold   time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the cluster's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// NATSOptions are appended to the connection's options.
	NATSOptions []nats.Option
}

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
type Cluster struct {
	opt  Options
	id   string // node id
	inc  string // this incarnation: node id and epoch
	log  *slog.Logger
	nc   *nats.Conn               // control: the bucket, heartbeats, probes, kills
	dc   *nats.Conn               // data: relayed frames and room transitions, in order
	kv   atomic.Pointer[kvHandle] // the membership bucket, opened afresh by recovery
	met  *metrics
	live *liveness
	out  *outLinks // frames to other nodes, held until acknowledged
	in   *inLinks  // sequence state of frames from other nodes

	mu      sync.RWMutex
	byConn  map[hub.Conn]*member
	byNum   map[uint64]*member
	rooms   map[hub.Key]int // local members per room with at least one
	nextNum atomic.Uint64

	// ready is true while connected to NATS and done recovering from the
	// last outage; joins are refused otherwise.
	ready      atomic.Bool
	superseded atomic.Bool // a newer process runs with this node id
	sweeping   atomic.Bool // a sweep runs
	recoverMu  sync.Mutex  // one recovery at a time
	checking   atomic.Bool // a bucket check runs
	pendMu     sync.Mutex
	pending    []pendingLeave // leaves that happened while cut off

	evictions, probes atomic.Int64

	stop      chan struct{}
	lifeMu    sync.Mutex // guards closed and wg.Add against Close's wg.Wait
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
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	met, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	inc := incarnation(opt.NodeID, newEpoch(now))
	c := &Cluster{
		opt: opt, id: opt.NodeID, inc: inc, log: opt.Logger.With("node", opt.NodeID, "incarnation", inc), met: met,
		live:   newLiveness(inc, opt.DeadAfter, now),
		byConn: map[hub.Conn]*member{}, byNum: map[uint64]*member{}, rooms: map[hub.Key]int{},
		stop: make(chan struct{}),
	}
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
			// A link that stops carrying packets is noticed in seconds,
			// not in the default two minutes.
			nats.PingInterval(2 * time.Second),
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
	c.nc, c.dc = conns[0], conns[1]
	c.out = newOutLinks(c)
	c.in = newInLinks(c)
	if err := c.init(ctx); err != nil {
		close(c.stop) // quiet: the disconnect handler sees a node that is closing
		c.nc.Close()
		c.dc.Close()
		return nil, err
	}
	c.ready.Store(true)
	c.met.connected.Set(1)
	c.spawn(c.heartbeatLoop)
	c.spawn(c.linkLoop)
	c.log.Info("cluster node started", "nats", c.nc.ConnectedUrlRedacted(), "bucket", opt.Bucket)
	return c, nil
}

func (c *Cluster) init(ctx context.Context) error {
	if err := c.waitBucket(ctx); err != nil {
		return err
	}
	data, err := c.dc.Subscribe(dataSubject(c.inc), c.onData)
	if err != nil {
		return err
	}
	// Relays come in bursts; the handler only queues frames, so a deep
	// buffer costs memory only when a burst outruns it for a moment.
	data.SetPendingLimits(1<<20, 256<<20)
	for subj, h := range map[string]nats.MsgHandler{
		ctlSubject(c.inc): c.onCtl, ackSubject(c.inc): c.onAck,
		subjectHeartbeat: c.onHeartbeat, subjectDead: c.onDead, subjectBye: c.onBye,
	} {
		if _, err := c.nc.Subscribe(subj, h); err != nil {
			return err
		}
	}
	// Announce ourselves before the first join, so that no node sees our
	// members before it has heard of us, and every node that knew an
	// earlier life of this node id buries it now.
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	if err := c.dc.FlushWithContext(ctx); err != nil {
		return err
	}
	c.nc.Publish(subjectHeartbeat, []byte(c.inc))
	return c.nc.FlushWithContext(ctx)
}

// kvHandle holds the bucket for an atomic swap.
type kvHandle struct{ jetstream.KeyValue }

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

// heartbeatLoop announces this node, probes and declares dead the nodes
// that fell silent, and measures the NATS round trip.
func (c *Cluster) heartbeatLoop() {
	t := time.NewTicker(c.opt.Heartbeat)
	defer t.Stop()
	hb := []byte(c.inc)
	last := time.Now()
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		// A tick that comes late means this process did not run: the
		// heartbeats it has not read yet are queued, not missing.
		starved := now.Sub(last) > 2*c.opt.Heartbeat
		last = now
		if !c.connected() {
			continue
		}
		c.nc.Publish(subjectHeartbeat, hb)
		if c.ready.Load() {
			if starved {
				c.met.nearMisses.WithLabelValues("late_tick").Inc()
			} else {
				suspects, sweep := c.live.check(now)
				for _, inc := range suspects {
					c.spawn(func() { c.probeNode(inc) })
				}
				// Sweep now and then anyway, in case a removal failed
				// and must be retried.
				if sweep || i%16 == 0 {
					c.startSweep()
				}
			}
		}
		c.met.nodes.Set(float64(c.live.count(now)))
		if i%20 == 0 {
			start := time.Now()
			if err := c.nc.FlushTimeout(c.opt.OpTimeout); err == nil {
				c.met.rtt.Set(time.Since(start).Seconds())
			}
		}
	}
}

// probeNode asks a silent incarnation directly whether it is alive before
// declaring it dead: a starved process answers late but answers, while a
// dead one has no subscription left (NATS says so at once) or never
// answers.
func (c *Cluster) probeNode(inc string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.DeadAfter)
	defer cancel()
	_, err := c.nc.RequestWithContext(ctx, ctlSubject(inc), []byte{msgPing})
	switch {
	case err == nil:
		c.live.cleared(inc, time.Now())
		c.met.nearMisses.WithLabelValues("probe_answered").Inc()
		c.log.Info("node missed heartbeats but answered a probe", "other", inc, "silence", c.opt.DeadAfter)
		return
	case !c.connected() || !c.ready.Load():
		c.live.cleared(inc, time.Now()) // we cannot tell; recovery resets the clock anyway
		return
	}
	if !c.live.declare(inc) {
		return // a heartbeat came meanwhile
	}
	c.met.deaths.Inc()
	c.out.forget(inc)
	c.log.Warn("node declared dead: no heartbeat and no answer to a probe", "dead", inc, "after", c.opt.DeadAfter, "probe", err)
	c.nc.Publish(subjectDead, []byte(inc))
	c.startSweep()
}

func (c *Cluster) onHeartbeat(m *nats.Msg) {
	inc := string(m.Data)
	if inc == c.inc {
		return
	}
	h := c.live.heard(inc, time.Now())
	switch {
	case h.usurped:
		if !c.superseded.Swap(true) {
			c.ready.Store(false)
			c.met.connected.Set(0)
			c.log.Error("another process has started with this node_id: this one stops taking joins", "other", inc)
		}
	case h.revived:
		c.log.Warn("node declared dead is back", "other", inc)
	case h.late:
		c.met.nearMisses.WithLabelValues("late_heartbeat").Inc()
	}
	for _, old := range h.superseded {
		c.out.forget(old)
	}
	if len(h.superseded) > 0 {
		c.log.Warn("node restarted: its previous life is dead", "other", inc, "previous", h.superseded)
		c.startSweep()
	}
}

// onBye: a node stops cleanly. Its members should have left already;
// any left behind are removed like a dead node's, but nothing died.
func (c *Cluster) onBye(m *nats.Msg) {
	inc := string(m.Data)
	if inc == c.inc {
		return
	}
	c.live.left(inc)
	c.out.forget(inc)
	c.met.nodes.Set(float64(c.live.count(time.Now())))
	c.log.Info("node left the cluster", "other", inc)
	c.startSweep()
}

// onDead: a survivor has given up on a node. When that node is this one
// (our heartbeats were late, not lost), our sockets may have been removed
// from their rooms, so check every one.
func (c *Cluster) onDead(m *nats.Msg) {
	if string(m.Data) != c.inc {
		return
	}
	c.log.Warn("another node declared this node dead; reconciling")
	c.spawn(c.recover)
}

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
	go func() {
		defer c.wg.Done()
		f()
	}()
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
		if !abort && c.nc.IsConnected() {
			c.nc.Publish(subjectBye, []byte(c.inc))
		}
		if abort {
			c.nc.Close()
			c.dc.Close()
		}
		c.wg.Wait()
		if !abort {
			c.dc.FlushTimeout(c.opt.OpTimeout)
			c.nc.FlushTimeout(c.opt.OpTimeout)
			c.dc.Close()
			c.nc.Close()
		}
		c.stopGapTimers()
	})
}

// connected reports whether both connections are up.
func (c *Cluster) connected() bool { return c.nc.IsConnected() && c.dc.IsConnected() }

// opCtx bounds one bucket operation.
func (c *Cluster) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opt.OpTimeout)
}

// isConflict reports a lost compare-and-set.
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
