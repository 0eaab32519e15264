package room

import (
	"net/netip"
	"time"
)

// Seats is a room with duet's seat rules on top of Room: what each member
// told us at its join (its session, whether it is resumable), its resume
// token, its seat held while its socket is lost, and the room messages
// kept for it meanwhile. It is the one copy of these rules: hub.Local runs
// it under a shard lock, the cluster under compare-and-set on the room's
// stored value, and both only carry out what a Step says.
//
// The zero value is an empty room. A Seats is not safe for concurrent use.
type Seats[M comparable] struct {
	room  Room[M]
	seats [2]Seat[M]
	used  [2]bool
	call  time.Time
	// mesh, when set, makes this a mesh room (mesh.go): more than two
	// members, each with its own id, and addressed messages.
	mesh *mesh[M]
}

// Seat is one member's seat.
type Seat[M comparable] struct {
	Member M
	// Peer is the member's id in a mesh room ("" in a room of two): what
	// the other members address it by. A resume keeps it.
	Peer string
	// Tag names the member for operators (Rules.Tag); a resume keeps it.
	Tag       string
	Session   string   // its call-session id; "" for the Ant Media SDKs
	Resumable bool     // its seat is held when its socket is lost
	Token     [32]byte // SHA-256 of its current resume token; zero: none
	// Prev is the hash of the token before Token, in a mesh room: still
	// good for a resume (meshJoined says why).
	Prev   [32]byte
	Remote string // its client's address, for listings
	// Addr is the client's address as hold caps count it (not stored by
	// a cluster: its node counts).
	Addr   netip.Addr
	Joined time.Time // when it entered the room (a resume keeps it)
	// Held is when its held seat is given up; zero while its socket is
	// live. HeldBy says who wrote the hold (a cluster node watches it).
	Held   time.Time
	HeldBy string
	// Kept are the room messages for the member while its seat is held,
	// in order; it gets them after its resumed joined.
	Kept []Kept
	// Frames are what the member relayed for its partner while the
	// partner's seat is held (for a backend that keeps them with the
	// room; a cluster keeps them on the member's node).
	Frames Keep
}

// IsHeld reports whether the seat is held: its socket is lost.
func (s *Seat[M]) IsHeld() bool { return !s.Held.IsZero() }

// Rules configure Seats. The zero value holds no seat.
type Rules struct {
	// Grace is how long the seat of a resumable member whose socket is
	// lost is held; 0 holds none (resumable is ignored, joined carries no
	// resume token).
	Grace time.Duration
	// HoldBytes bounds the frames a member's relays keep for its held
	// partner (Keep); 0: 1 MiB.
	HoldBytes int
	// MaxKept bounds the room messages kept for a held seat; 0: 16.
	MaxKept int
	// Token makes a new resume token; nil: 192 random bits, base64url.
	Token func() string
	// Tag names a new member for operators; nil: "".
	Tag func() string
}

// KeepLimit is the bound of a Keep under r.
func (r *Rules) KeepLimit() int {
	if r.HoldBytes > 0 {
		return r.HoldBytes
	}
	return 1 << 20
}

func (r *Rules) maxKept() int {
	if r.MaxKept > 0 {
		return r.MaxKept
	}
	return 16
}

// Restore rebuilds a room from its seats, oldest first (as Members lists
// them), and the call's start: what a backend stored.
func Restore[M comparable](seats []Seat[M], call time.Time) Seats[M] {
	var s Seats[M]
	for _, st := range seats {
		if s.room.Has(st.Member) {
			continue // a duplicate only a foreign writer could store
		}
		if res, _ := s.room.Join(st.Member); res == Admitted {
			s.add(st)
		}
	}
	if s.room.Len() == 2 {
		s.call = call
	}
	return s
}

// Len is the number of members.
func (s *Seats[M]) Len() int {
	if s.mesh != nil {
		return len(s.mesh.seats)
	}
	return s.room.Len()
}

// Empty reports whether the room has no members and can be forgotten.
func (s *Seats[M]) Empty() bool { return s.Len() == 0 }

// Has reports whether m is a member.
func (s *Seats[M]) Has(m M) bool { return s.find(m) != nil }

// Partner returns m's partner, if the room is full and m is in it.
func (s *Seats[M]) Partner(m M) (M, bool) { return s.room.Partner(m) }

// Call is when the room filled (the call's start); zero while a member
// waits.
func (s *Seats[M]) Call() time.Time { return s.call }

// Seat returns m's seat, or nil. The caller may read it, not change it.
func (s *Seats[M]) Seat(m M) *Seat[M] { return s.find(m) }

// Members returns copies of the seats, oldest first.
func (s *Seats[M]) Members() []Seat[M] {
	ms := s.order()
	out := make([]Seat[M], 0, len(ms))
	for _, m := range ms {
		out = append(out, *s.find(m))
	}
	return out
}

// FirstHold is the earliest end of the room's held seats; zero if none.
func (s *Seats[M]) FirstHold() time.Time {
	var first time.Time
	for _, m := range s.order() {
		if h := s.find(m).Held; !h.IsZero() && (first.IsZero() || h.Before(first)) {
			first = h
		}
	}
	return first
}

// Holds reports whether member m, leaving for reason, keeps its seat
// (Step.Lost holds it if the backend may): it is resumable, not held
// already, and its socket went away without it asking to leave.
func (s *Seats[M]) Holds(r *Rules, m M, reason Reason) bool {
	st := s.find(m)
	return st != nil && !st.IsHeld() && st.Resumable && r.Grace > 0 && Holding(reason)
}

// ProbeTargets are the members of a full room to probe before a joiner
// is refused: a held seat is occupied until its grace ends, so it answers
// alive for its absent member and is not probed.
func (s *Seats[M]) ProbeTargets() []M {
	var out []M
	for _, m := range s.order() {
		if !s.find(m).IsHeld() {
			out = append(out, m)
		}
	}
	return out
}

// Route says where a frame relayed by from goes: to its partner to, and,
// when the partner's seat is held, into keep (from's Frames), which the
// caller adds it to (Keep.Add). ok is false when from has no partner.
func (s *Seats[M]) Route(from M) (to M, keep *Keep, ok bool) {
	to, ok = s.room.Partner(from)
	if !ok {
		return to, nil, false
	}
	if s.find(to).IsHeld() {
		return to, &s.find(from).Frames, true
	}
	return to, nil, true
}

func (s *Seats[M]) find(m M) *Seat[M] {
	if s.mesh != nil {
		return s.mesh.find(m)
	}
	for i := range s.seats {
		if s.used[i] && s.seats[i].Member == m {
			return &s.seats[i]
		}
	}
	return nil
}

func (s *Seats[M]) add(st Seat[M]) *Seat[M] {
	for i := range s.seats {
		if !s.used[i] {
			s.seats[i], s.used[i] = st, true
			return &s.seats[i]
		}
	}
	panic("room: a third seat")
}

func (s *Seats[M]) drop(m M) {
	for i := range s.seats {
		if s.used[i] && s.seats[i].Member == m {
			s.seats[i], s.used[i] = Seat[M]{}, false
		}
	}
}
