package hub

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

const shardCount = 64

// Local is the in-process room backend. It holds the seats of resumable
// members whose sockets are lost (see hold.go).
type Local struct {
	seed         maphash.Seed
	shards       [shardCount]shard
	probeTimeout time.Duration
	grace        time.Duration
	holdBytes    int
	caps         *HoldCaps
	clock        Clock
	log          *slog.Logger

	rooms     atomic.Int64
	evictions atomic.Int64
	probes    atomic.Int64
	held      atomic.Int64
	resumes   atomic.Int64
	expiries  atomic.Int64
	closed    atomic.Bool

	ops localOps // listings, kicks and room events (localops.go)
}

var (
	_ Rooms  = (*Local)(nil)
	_ Holder = (*Local)(nil)
)

// shard is a 64th of the rooms. Its lock is held while a room changes and
// its messages are queued (Conn.Send, which takes the Conn's own lock
// after this one); it is released before members are probed and before an
// evicted one is killed, and never held across I/O.
type shard struct {
	mu    sync.Mutex
	rooms map[Key]*entry
}

type entry struct {
	room    room.Room[Conn]
	probing chan struct{} // non-nil while the members are being probed
	ops     roomOps       // who the members are, for listings and events
	// seats has the resume state of members that sent session or
	// resumable; plain members (the Ant Media SDKs) have none.
	seats [2]*seat
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
	l := &Local{seed: maphash.MakeSeed(), probeTimeout: o.ProbeTimeout, grace: max(o.ReconnectGrace, 0),
		holdBytes: o.HoldBytes, caps: o.HoldCaps, clock: o.Clock, log: o.Logger}
	if l.holdBytes <= 0 {
		l.holdBytes = 1 << 20
	}
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
func (l *Local) ReconnectGrace() time.Duration { return l.grace }

func (l *Local) shard(k Key) *shard {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(k.App)
	h.WriteByte(0)
	h.WriteString(k.Stream)
	return &l.shards[h.Sum64()%shardCount]
}

// Join implements Rooms. A join whose ResumeToken matches a seat of the
// room takes that seat (see resumeLocked); any other token is ignored and
// the join proceeds as an ordinary one. A repeated join by a member of a
// full room that RestartsCall starts the call over (restart.go).
func (l *Local) Join(ctx context.Context, c Conn, k Key, info JoinInfo) error {
	sh := l.shard(k)
	for attempt := 0; ; attempt++ {
		sh.mu.Lock()
		e := sh.rooms[k]
		if e == nil {
			e = &entry{}
			sh.rooms[k] = e
			l.rooms.Add(1)
		}
		if info.Again && !e.room.Has(c) {
			l.forgetIfEmpty(sh, k, e)
			sh.mu.Unlock()
			return ErrRemoved
		}
		if info.ResumeToken != "" && l.grace > 0 && !e.room.Has(c) {
			if s := e.seatByToken(info.ResumeToken); s != nil {
				old, live := l.resumeLocked(sh, k, e, s, c, info)
				sh.mu.Unlock()
				if live {
					// Half-open: the old socket is dropped without a room
					// transition; its cleanup finds it in no seat here.
					old.Kill("its seat was resumed by a new socket")
				}
				return nil
			}
		}
		if e.room.Len() == 2 && e.room.Has(c) && info.RestartsCall() {
			l.restartLocked(sh, k, e, c, info)
			sh.mu.Unlock()
			return nil
		}
		res, acts := e.room.Join(c)
		if res == room.Admitted {
			l.admittedLocked(k, e, c, info)
			l.admitLocked(sh, k, e, c, info, acts)
			sh.mu.Unlock()
			return nil
		}
		if attempt > 0 {
			sh.mu.Unlock()
			return protocol.ErrNoSpaceForNewPeer
		}
		wait, members := e.probing, []Conn(nil)
		if wait == nil {
			wait = make(chan struct{})
			e.probing = wait
			members = e.room.Members()
		}
		var held []bool
		for _, m := range members {
			held = append(held, e.isHeld(m))
		}
		sh.mu.Unlock()
		if members != nil {
			l.probe(sh, k, e, members, held, wait)
			continue
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// probe checks the members of a full room concurrently and evicts the ones
// that do not answer, as if their sockets had closed. A held seat answers
// alive: it is occupied until its grace ends.
func (l *Local) probe(sh *shard, k Key, e *entry, members []Conn, held []bool, done chan struct{}) {
	l.probes.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), l.probeTimeout)
	alive := make([]bool, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if held[i] {
			alive[i] = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			alive[i] = m.Probe(ctx)
		}()
	}
	wg.Wait()
	cancel()

	var dead []Conn
	sh.mu.Lock()
	for i, m := range members {
		if !alive[i] && e.room.Has(m) && !e.isHeld(m) {
			l.removeLocked(k, e, m, ReasonEvicted)
			dead = append(dead, m)
		}
	}
	e.probing = nil
	l.forgetIfEmpty(sh, k, e)
	sh.mu.Unlock()
	close(done)
	for _, m := range dead {
		l.evictions.Add(1)
		l.log.Info("evicted unresponsive member", "app", k.App, "stream", k.Stream)
		m.Kill("no answer to liveness probe")
	}
}

// forgetIfEmpty deletes e if it is k's current entry and has no members.
// The caller holds sh.mu.
func (l *Local) forgetIfEmpty(sh *shard, k Key, e *entry) {
	if e.room.Empty() && e.probing == nil && sh.rooms[k] == e {
		delete(sh.rooms, k)
		l.rooms.Add(-1)
	}
}

// Leave implements Rooms. A resumable member whose socket went away
// (closed, timeout, node failure) keeps its seat for the reconnect grace.
func (l *Local) Leave(c Conn, k Key, reason Reason) {
	sh := l.shard(k)
	sh.mu.Lock()
	e := sh.rooms[k]
	if e == nil || !e.room.Has(c) {
		if reason == ReasonLeft {
			c.Send(protocol.Notification(nil, protocol.NotifyLeaved, k.Stream))
		}
		sh.mu.Unlock()
		return
	}
	refused := false
	if s := e.seatOf(c); s != nil && holds(reason) && !l.closed.Load() {
		if s.hold != nil {
			sh.mu.Unlock()
			return // already held
		}
		if s.resumable {
			if l.caps.Take(s.addr) {
				l.holdLocked(sh, k, e, s, reason)
				sh.mu.Unlock()
				return
			}
			refused = true
		}
	}
	l.removeLocked(k, e, c, reason)
	l.forgetIfEmpty(sh, k, e)
	sh.mu.Unlock()
	if refused {
		l.log.Info("seat not held: too many held seats", "app", k.App, "stream", k.Stream, "reason", reason.String())
	}
}

// holds reports whether a member leaving for reason keeps a resumable
// seat: its socket went away without it asking to leave, and nobody
// removed it on purpose.
func holds(reason Reason) bool {
	switch reason {
	case ReasonClosed, ReasonTimeout, ReasonNodeFailure:
		return true
	}
	return false
}

// removeLocked takes member c out of e, ending a hold it has, and sends
// the transition's messages; the partner's stop carries reason. The
// caller holds the shard's lock and calls forgetIfEmpty after.
func (l *Local) removeLocked(k Key, e *entry, c Conn, reason Reason) {
	if s := e.seatOf(c); s != nil {
		l.unholdLocked(s)
		e.dropSeat(c)
	}
	l.deliverLocked(k, e, l.leaveLocked(k, e, c, reason), delivery{reason: reason})
}

// Relay implements Rooms. A frame for a held seat is kept for it.
func (l *Local) Relay(c Conn, k Key, frame Loan) error {
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.rooms[k]
	if e == nil {
		return protocol.ErrNoPeerAssociated
	}
	p, ok := e.room.Partner(c)
	if !ok {
		return protocol.ErrNoPeerAssociated
	}
	if e.seats == [2]*seat{} {
		frame.SendTo(p) // plain members: the common case
		return nil
	}
	l.sendLocked(e, p, frame)
	l.expireOverflowedLocked(sh, k, e)
	return nil
}

// Stats implements Rooms.
func (l *Local) Stats() Stats {
	st := Stats{Rooms: l.rooms.Load(), Evictions: l.evictions.Load(), Probes: l.probes.Load(),
		Held: l.held.Load(), Resumes: l.resumes.Load(), Expiries: l.expiries.Load()}
	l.caps.addStats(&st)
	return st
}

// delivery is what the messages of one transition need beyond its actions.
type delivery struct {
	reason  Reason              // why a member left: the partner's stop says so
	joined  protocol.JoinedInfo // the joiner's joined
	session string              // the joiner's session: start tells a waiter that sent one
}

// deliverLocked sends the messages of a room transition, in order; those
// for a held seat are kept for it.
func (l *Local) deliverLocked(k Key, e *entry, acts []room.Action[Conn], d delivery) {
	for _, a := range acts {
		var frame []byte
		switch a.Kind {
		case room.Joined:
			frame = protocol.Joined(nil, k.Stream, d.joined)
		case room.Start:
			ps := ""
			if s := e.seatOf(a.To); s != nil && s.session != "" {
				ps = d.session
			}
			frame = protocol.Start(nil, k.Stream, ps)
		case room.Leaved:
			frame = protocol.Notification(nil, protocol.NotifyLeaved, k.Stream)
		case room.Stop:
			frame = protocol.Stop(nil, k.Stream, d.reason.String())
		default:
			panic("hub: unknown room action")
		}
		l.sendLocked(e, a.To, Lend(frame))
	}
}

// Frame encodes the message for a room action as the Ant Media SDKs know
// it, for backends that carry no more than the action (no stop reason).
func Frame(kind room.Kind, stream string) []byte {
	switch kind {
	case room.Joined:
		return protocol.Notification(nil, protocol.NotifyJoined, stream)
	case room.Start:
		return protocol.Simple(nil, protocol.CmdStart, stream)
	case room.Leaved:
		return protocol.Notification(nil, protocol.NotifyLeaved, stream)
	case room.Stop:
		return protocol.Simple(nil, protocol.CmdStop, stream)
	}
	panic("hub: unknown room action")
}
