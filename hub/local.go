package hub

import (
	"context"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

const shardCount = 64

// Local is the in-process room backend: each room is a room.Seats, the
// seat state machine, run under its shard's lock. It holds the seats of
// resumable members whose sockets are lost (hold.go).
type Local struct {
	seed         maphash.Seed
	shards       [shardCount]shard
	probeTimeout time.Duration
	rules        room.Rules
	caps         *HoldCaps
	clock        Clock
	log          *slog.Logger

	rooms     atomic.Int64
	evictions atomic.Int64
	probes    atomic.Int64
	held      atomic.Int64
	resumes   atomic.Int64
	expiries  atomic.Int64
	mesh      atomic.Int64 // members of mesh rooms
	closed    atomic.Bool

	ops localOps // listings, kicks and room events (localops.go)
}

var (
	_ Rooms  = (*Local)(nil)
	_ Holder = (*Local)(nil)
	_ Mesher = (*Local)(nil)
)

// shard is a 64th of the rooms.
//
// Lock order: shard.mu, then a Conn's own lock (Conn.Send), HoldCaps' (a
// leaf), the clock's (a timer set or stopped) and the observer's (it
// only queues); never two shards at once. Nothing under it blocks, does
// I/O or logs: members are probed, killed and logged about after it is
// released (see after).
type shard struct {
	mu    sync.Mutex
	rooms map[Key]*entry
}

type entry struct {
	seats   room.Seats[Conn]
	probing chan struct{} // non-nil while the members are being probed
	timers  []holdTimer   // the grace timers of held seats
}

// holdTimer is the timer that gives a held seat up at the end of its
// grace.
type holdTimer struct {
	member Conn
	stop   func() bool
}

// LocalOptions configure a Local. Zero values get defaults.
type LocalOptions struct {
	ProbeTimeout   time.Duration // how long a member of a full room has to answer a probe
	ReconnectGrace time.Duration // how long a resumable member's seat is held; 0: never
	HoldBytes      int           // bytes of frames kept for a held seat; 0: 1 MiB
	HoldCaps       *HoldCaps     // what held seats may cost in all; nil: no caps
	Clock          Clock         // nil: RealClock
	Logger         *slog.Logger  // nil: discard
}

// NewLocal returns an empty in-process backend that holds no seats.
// probeTimeout bounds how long a member of a full room has to answer a probe.
func NewLocal(probeTimeout time.Duration, log *slog.Logger) *Local {
	return NewLocalWith(LocalOptions{ProbeTimeout: probeTimeout, Logger: log})
}

// NewLocalWith returns an empty in-process backend configured by o.
func NewLocalWith(o LocalOptions) *Local {
	l := &Local{seed: maphash.MakeSeed(), probeTimeout: o.ProbeTimeout, caps: o.HoldCaps, clock: o.Clock, log: o.Logger}
	l.rules = room.Rules{Grace: max(o.ReconnectGrace, 0), HoldBytes: o.HoldBytes,
		Tag: func() string { return strconv.FormatUint(l.ops.nextMember.Add(1), 10) }}
	if l.clock == nil {
		l.clock = RealClock{}
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	for i := range l.shards {
		l.shards[i].rooms = make(map[Key]*entry)
	}
	return l
}

// ReconnectGrace implements Holder.
func (l *Local) ReconnectGrace() time.Duration { return l.rules.Grace }

func (l *Local) shard(k Key) *shard {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(k.App)
	h.WriteByte(0)
	h.WriteString(k.Stream)
	return &l.shards[h.Sum64()%shardCount]
}

// entry returns k's entry, making one. The caller holds sh.mu.
func (l *Local) entry(sh *shard, k Key) *entry {
	e := sh.rooms[k]
	if e == nil {
		e = &entry{}
		sh.rooms[k] = e
		l.rooms.Add(1)
	}
	return e
}

// begin starts a transition of e now.
func (l *Local) begin(e *entry) *room.Step[Conn] {
	return e.seats.Begin(&l.rules, l.clock.Now(), "")
}

// Join implements Rooms: it runs room.Step.Join. A full room has its
// members probed (those whose seats are held answer for themselves), the
// ones that do not answer are evicted, and the join is tried once more.
func (l *Local) Join(ctx context.Context, c Conn, k Key, info JoinInfo) error {
	sh := l.shard(k)
	j := room.Joiner[Conn]{Member: c, Session: info.Session, Resumable: info.Resumable, Restart: info.Restart,
		Token: info.ResumeToken, Again: info.Again, Prelude: info.Prelude != nil, Remote: info.Remote, Addr: info.Addr,
		Mesh: info.Mesh, Max: info.MaxPeers, RestartPeer: info.RestartPeer}
	for attempt := 0; ; attempt++ {
		var a after
		sh.mu.Lock()
		e := l.entry(sh, k)
		st := l.begin(e)
		res := st.Join(j)
		l.applyLocked(k, e, st, info.Prelude, &a)
		var err error
		var members []Conn
		wait, lead := e.probing, false
		switch {
		case res == room.Removed:
			err = ErrRemoved
		case res == room.MeshOnly:
			err = protocol.ErrMeshClientRequired
		case res != room.Full:
		case attempt > 0:
			err = protocol.ErrNoSpaceForNewPeer
		case wait == nil:
			wait, lead = make(chan struct{}), true
			e.probing, members = wait, e.seats.ProbeTargets()
		}
		l.forgetIfEmpty(sh, k, e)
		sh.mu.Unlock()
		a.run(l.log)
		switch {
		case res != room.Full || err != nil:
			return err
		case lead:
			l.probe(sh, k, e, members, wait)
			continue
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// probe checks the given members of a full room concurrently and evicts
// the ones that do not answer, as if their sockets had closed.
func (l *Local) probe(sh *shard, k Key, e *entry, members []Conn, done chan struct{}) {
	l.probes.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), l.probeTimeout)
	alive := make([]bool, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alive[i] = m.Probe(ctx)
		}()
	}
	wg.Wait()
	cancel()

	var a after
	sh.mu.Lock()
	st := l.begin(e)
	for i, m := range members {
		if !alive[i] {
			st.Evict(m)
		}
	}
	l.applyLocked(k, e, st, nil, &a)
	e.probing = nil
	l.forgetIfEmpty(sh, k, e)
	sh.mu.Unlock()
	close(done)
	a.run(l.log)
}

// forgetIfEmpty deletes e if it is k's current entry and has no members.
// The caller holds sh.mu.
func (l *Local) forgetIfEmpty(sh *shard, k Key, e *entry) {
	if e.seats.Empty() && e.probing == nil && sh.rooms[k] == e {
		delete(sh.rooms, k)
		l.rooms.Add(-1)
	}
}

// Leave implements Rooms. A resumable member whose socket went away
// (room.Holding) keeps its seat for the reconnect grace, if HoldCaps
// allow.
func (l *Local) Leave(c Conn, k Key, reason Reason) {
	sh := l.shard(k)
	var a after
	sh.mu.Lock()
	e := sh.rooms[k]
	if e == nil {
		if reason == ReasonLeft {
			c.Send(Frame(room.Leaved, k.Stream))
		}
		sh.mu.Unlock()
		return
	}
	st := l.begin(e)
	if reason == ReasonLeft {
		st.Leave(c, reason)
	} else {
		may := false
		if e.seats.Holds(&l.rules, c, reason) && !l.closed.Load() {
			if may = l.caps.Take(e.seats.Seat(c).Addr); !may {
				a.logf("seat not held: too many held seats", "app", k.App, "stream", k.Stream, "reason", reason.String())
			}
		}
		st.Lost(c, reason, may)
	}
	l.applyLocked(k, e, st, nil, &a)
	l.forgetIfEmpty(sh, k, e)
	sh.mu.Unlock()
	a.run(l.log)
}

// Relay implements Rooms. A frame for a held seat is kept (room.Keep); one
// that does not fit ends the hold as if its grace had run out.
func (l *Local) Relay(c Conn, k Key, frame Loan) error {
	sh := l.shard(k)
	sh.mu.Lock()
	e := sh.rooms[k]
	if e == nil {
		sh.mu.Unlock()
		return protocol.ErrNoPeerAssociated
	}
	p, keep, ok := e.seats.Route(c)
	switch {
	case !ok:
		sh.mu.Unlock()
		return protocol.ErrNoPeerAssociated
	case keep == nil:
		frame.SendTo(p) // the common case
		sh.mu.Unlock()
		return nil
	case keep.Add(frame.Clone(), false, l.rules.KeepLimit(), l.caps.Keep):
		sh.mu.Unlock()
		return nil
	}
	var a after
	st := l.begin(e)
	st.Expire(p, time.Time{}, true)
	a.logf("held seat given up: too much to keep for it", "app", k.App, "stream", k.Stream, "hold_bytes", l.rules.KeepLimit())
	l.applyLocked(k, e, st, nil, &a)
	l.forgetIfEmpty(sh, k, e)
	sh.mu.Unlock()
	a.run(l.log)
	return nil
}

// Stats implements Rooms.
func (l *Local) Stats() Stats {
	st := Stats{Rooms: l.rooms.Load(), Evictions: l.evictions.Load(), Probes: l.probes.Load(),
		Held: l.held.Load(), Resumes: l.resumes.Load(), Expiries: l.expiries.Load(), MeshMembers: l.mesh.Load()}
	l.caps.addStats(&st)
	return st
}

// applyLocked carries out transition st of room k: it sends its messages
// in order (prelude is the joiner's), reports its events, sets and stops
// the timers of held seats and counts; what must wait for the lock's
// release (kills, logs) goes into a. The caller holds the shard's lock.
func (l *Local) applyLocked(k Key, e *entry, st *room.Step[Conn], prelude []byte, a *after) {
	for _, m := range st.Msgs {
		m.To.Send(Encode(k.Stream, m, l.rules.Grace, prelude))
	}
	l.caps.Unkeep(st.Unkept)
	now := l.clock.Now()
	for _, n := range st.Notes {
		l.noteLocked(k, e, n, now, a)
	}
}

// after is what a transition leaves to do once the shard's lock is
// released: sockets to drop and lines to log.
type after struct {
	kills []kill
	logs  []logLine
}

type kill struct {
	c      Conn
	reason string
}

type logLine struct {
	msg  string
	args []any
}

func (a *after) logf(msg string, args ...any) { a.logs = append(a.logs, logLine{msg, args}) }

func (a *after) run(log *slog.Logger) {
	for _, l := range a.logs {
		log.Info(l.msg, l.args...)
	}
	for _, k := range a.kills {
		k.c.Kill(k.reason)
	}
}
