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

// Local is the in-process room backend.
type Local struct {
	seed         maphash.Seed
	shards       [shardCount]shard
	probeTimeout time.Duration
	log          *slog.Logger

	rooms     atomic.Int64
	evictions atomic.Int64
	probes    atomic.Int64
}

var _ Rooms = (*Local)(nil)

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
}

// NewLocal returns an empty in-process backend. probeTimeout bounds how long
// a member of a full room has to answer a probe.
func NewLocal(probeTimeout time.Duration, log *slog.Logger) *Local {
	l := &Local{seed: maphash.MakeSeed(), probeTimeout: probeTimeout, log: log}
	for i := range l.shards {
		l.shards[i].rooms = make(map[Key]*entry)
	}
	return l
}

func (l *Local) shard(k Key) *shard {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(k.App)
	h.WriteByte(0)
	h.WriteString(k.Stream)
	return &l.shards[h.Sum64()%shardCount]
}

// Join implements Rooms.
func (l *Local) Join(ctx context.Context, c Conn, k Key, _ JoinInfo) error {
	sh := l.shard(k)
	for attempt := 0; ; attempt++ {
		sh.mu.Lock()
		e := sh.rooms[k]
		if e == nil {
			e = &entry{}
			sh.rooms[k] = e
			l.rooms.Add(1)
		}
		res, acts := e.room.Join(c)
		if res == room.Admitted {
			deliver(k, acts)
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
		sh.mu.Unlock()
		if members != nil {
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

// probe checks the members of a full room concurrently and evicts the ones
// that do not answer, as if their sockets had closed.
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

	var dead []Conn
	sh.mu.Lock()
	for i, m := range members {
		if !alive[i] && e.room.Has(m) {
			deliver(k, e.room.Leave(m, false))
			dead = append(dead, m)
		}
	}
	l.forgetIfEmpty(sh, k, e)
	e.probing = nil
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

// Leave implements Rooms.
func (l *Local) Leave(c Conn, k Key, reason Reason) {
	explicit := reason == ReasonLeft
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.rooms[k]
	if e == nil {
		if explicit {
			c.Send(protocol.Notification(nil, protocol.NotifyLeaved, k.Stream))
		}
		return
	}
	deliver(k, e.room.Leave(c, explicit))
	l.forgetIfEmpty(sh, k, e)
}

// Relay implements Rooms.
func (l *Local) Relay(c Conn, k Key, frame []byte) error {
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
	p.Send(frame)
	return nil
}

// Stats implements Rooms.
func (l *Local) Stats() Stats {
	return Stats{Rooms: l.rooms.Load(), Evictions: l.evictions.Load(), Probes: l.probes.Load()}
}

// deliver sends the messages of a room transition, in order.
func deliver(k Key, acts []room.Action[Conn]) {
	for _, a := range acts {
		a.To.Send(Frame(a.Kind, k.Stream))
	}
}

// Frame encodes the message for a room action.
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
