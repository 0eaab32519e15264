package quality

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/duet-rtc/duet/hub"
)

// Options configure a Tracker. Zero values get the defaults shown.
type Options struct {
	// History is how many recent reports each member keeps for live
	// views (16).
	History int
	// DetachTTL is how long a member's state outlives its socket, for a
	// resume on a new socket or a call record written later (90 s).
	DetachTTL time.Duration
	Metrics   *Metrics         // nil: none
	Now       func() time.Time // the clock (time.Now)
}

// maxPerRoom bounds the states a room keeps: its two members, and room
// for a partner that changed or resumed elsewhere until the sweep.
const maxPerRoom = 4

// sweepEvery is how often detached and orphaned states are looked for
// (amortised: a sweep of 10,000 rooms takes about a millisecond).
const sweepEvery = 15 * time.Second

// Tracker is one node's quality state, by room: the members whose sockets
// are here (their reports are graded, counted and forwarded here) and
// copies of their partners' states from other nodes (from the partners'
// quality frames), so that whichever node ends a call can write its
// record. All methods are safe for concurrent use and never block on I/O;
// they may be called under a room backend's locks.
type Tracker struct {
	origin string
	o      Options

	mu        sync.Mutex
	rooms     map[hub.Key]*roomQ
	lastSweep time.Time
}

type roomQ struct {
	ms []*memberQ
}

// memberQ is one member's state in a room.
type memberQ struct {
	State
	app      string
	conn     uint64    // the local socket (0: a copy of another node's member)
	detached time.Time // when the local socket left (zero: it is here)

	hist     []Point
	histNext int

	met          *memberMetrics
	setupSeen    bool
	prevRestarts uint32
	prevResumes  uint32
}

// NewTracker returns an empty tracker. It runs no goroutine: what has
// outlived its use is swept now and then by the calls that change it.
func NewTracker(o Options) *Tracker {
	if o.History <= 0 {
		o.History = 16
	}
	if o.DetachTTL <= 0 {
		o.DetachTTL = 90 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var b [OriginLen / 2]byte
	rand.Read(b[:])
	return &Tracker{origin: hex.EncodeToString(b[:]), o: o, rooms: map[hub.Key]*roomQ{}, lastSweep: o.Now()}
}

// Origin is the id this tracker's quality frames carry.
func (t *Tracker) Origin() string { return t.origin }

// Metrics are the tracker's collectors (nil: none).
func (t *Tracker) Metrics() *Metrics { return t.o.Metrics }

// Sweep forgets what has outlived its use: states whose socket left more
// than DetachTTL ago, and rooms with no local member left (copies of
// partners matter only next to one).
func (t *Tracker) Sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(t.o.Now())
}

// maybeSweepLocked sweeps when sweepEvery has passed since the last sweep.
func (t *Tracker) maybeSweepLocked(now time.Time) {
	if now.Sub(t.lastSweep) >= sweepEvery {
		t.sweepLocked(now)
	}
}

func (t *Tracker) sweepLocked(now time.Time) {
	t.lastSweep = now
	for k, r := range t.rooms {
		keep := r.ms[:0]
		for _, q := range r.ms {
			if q.conn != 0 && !q.detached.IsZero() && now.Sub(q.detached) > t.o.DetachTTL {
				continue
			}
			if q.conn == 0 && now.Sub(q.Updated) > 2*t.o.DetachTTL {
				continue
			}
			keep = append(keep, q)
		}
		clear(r.ms[len(keep):])
		r.ms = keep
		if !r.hasLocal() {
			delete(t.rooms, k)
		}
	}
}

// Len is the number of member states kept (for tests and benchmarks).
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, r := range t.rooms {
		n += len(r.ms)
	}
	return n
}

func (r *roomQ) hasLocal() bool {
	for _, q := range r.ms {
		if q.conn != 0 {
			return true
		}
	}
	return false
}

func (r *roomQ) byConn(conn uint64) *memberQ {
	for _, q := range r.ms {
		if q.conn == conn {
			return q
		}
	}
	return nil
}

// find returns the state of member id, or with session s.
func (r *roomQ) find(id, session string) *memberQ {
	for _, q := range r.ms {
		if id != "" && q.Member == id || session != "" && q.Session == session {
			return q
		}
	}
	return nil
}

// add appends q, making room by dropping the stalest state.
func (r *roomQ) add(q *memberQ) {
	if len(r.ms) >= maxPerRoom {
		old := 0
		for i, m := range r.ms {
			if m.Updated.Before(r.ms[old].Updated) {
				old = i
			}
		}
		r.ms = append(r.ms[:old], r.ms[old+1:]...)
	}
	r.ms = append(r.ms, q)
}

// Seat ties local socket conn to member id of room k (see hub.Seated).
// A state with the same session (a resume on a new socket, even from a
// copy of another node's) or the same member id (a seat taken back) is
// carried on.
func (t *Tracker) Seat(k hub.Key, conn uint64, app, member, session string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maybeSweepLocked(t.o.Now())
	r := t.rooms[k]
	if r == nil {
		r = &roomQ{}
		t.rooms[k] = r
	}
	q := r.byConn(conn)
	if q == nil {
		q = r.find(member, session)
	}
	if q == nil {
		q = &memberQ{State: State{Updated: t.o.Now()}}
		r.add(q)
	}
	q.conn, q.app, q.detached, q.Member = conn, app, time.Time{}, member
	if session != "" {
		q.Session = session
	}
}

// Leave marks conn's state in k as left: it is kept for DetachTTL, for a
// resume or a call record that comes later.
func (t *Tracker) Leave(k hub.Key, conn uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.rooms[k]; r != nil {
		if q := r.byConn(conn); q != nil && q.detached.IsZero() {
			q.detached = t.o.Now()
		}
	}
}

// Report takes a report from local socket conn in room k: it is graded,
// summarised and counted, and the member's state is returned for the
// partner's quality frame. ok is false when conn holds no seat in k.
func (t *Tracker) Report(k hub.Key, conn uint64, r Report) (st State, ok bool) {
	now := t.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maybeSweepLocked(now)
	room := t.rooms[k]
	if room == nil {
		return st, false
	}
	q := room.byConn(conn)
	if q == nil || !q.detached.IsZero() {
		return st, false
	}
	l := Grade(r)
	if r.Seq <= q.Last.Seq || q.Sum.Reports == 0 {
		q.reset() // a new peer connection
	}
	t.o.Metrics.observe(q, r, l)
	q.prevRestarts, q.prevResumes = r.ICERestarts, r.Resumes
	q.Last, q.Level, q.Updated = r, l, now
	q.Sum.add(r, l)
	q.push(pointOf(now, r, l), t.o.History)
	return q.State, true
}

// reset starts a new peer connection's summary.
func (q *memberQ) reset() {
	q.Sum = Summary{}
	q.Last = Report{}
	q.hist = q.hist[:0]
	q.histNext = 0
	q.setupSeen = false
	q.prevRestarts, q.prevResumes = 0, 0
}

func (q *memberQ) push(p Point, n int) {
	if len(q.hist) < n {
		q.hist = append(q.hist, p)
		return
	}
	q.hist[q.histNext] = p
	q.histNext = (q.histNext + 1) % n
}

// history is the member's recent points, oldest first.
func (q *memberQ) history() []Point {
	out := make([]Point, 0, len(q.hist))
	out = append(out, q.hist[q.histNext:]...)
	return append(out, q.hist[:q.histNext]...)
}

// Partner takes the state of a member of room k from a quality frame that
// another node made. It is kept only next to a local member of k.
func (t *Tracker) Partner(k hub.Key, st State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rooms[k]
	if r == nil || !r.hasLocal() {
		return
	}
	q := r.find(st.Member, st.Session)
	if q != nil && q.conn != 0 {
		return // ours: a resume moved it here, its reports are graded here
	}
	if q == nil {
		q = &memberQ{}
		r.add(q)
	}
	if st.Last.Seq <= q.Last.Seq && st.Sum.Reports < q.Sum.Reports {
		q.hist = q.hist[:0]
		q.histNext = 0
	}
	q.State = st
	q.push(pointOf(st.Updated, st.Last, st.Level), t.o.History)
}
