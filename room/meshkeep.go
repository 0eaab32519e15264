package room

import (
	"strconv"
	"time"
)

// What a mesh room keeps for a held seat: the room messages for its member
// and the frames relayed to it, in one list in the order they came (a
// frame from a member that then left must come before that member's stop),
// bounded in bytes like a Keep.

// keptOverhead is what a kept room message counts for against the bound.
const keptOverhead = 64

func keptBytes(ks []Kept) int {
	n := 0
	for _, k := range ks {
		n += len(k.Frame)
	}
	return n
}

// meshKeep keeps room message k for held seat st. A member the held one
// did not know of (its first kept message is its start) that left again
// leaves no trace; for any other member that left, its stop is all that
// is kept of it. A peerReconnected cancels that member's pending
// peerReconnecting.
func (t *Step[M]) meshKeep(st *Seat[M], k Kept) {
	switch k.Kind {
	case Stop:
		if k.Peer == "" {
			break
		}
		first := Kind(0)
		out := st.Kept[:0]
		for _, o := range st.Kept {
			if o.Peer != k.Peer {
				out = append(out, o)
				continue
			}
			if first == 0 {
				first = o.Kind
			}
			t.Unkept += len(o.Frame)
		}
		clear(st.Kept[len(out):])
		st.Kept = out
		if first == Start {
			return
		}
	case Reconnected:
		for i := len(st.Kept) - 1; i >= 0; i-- {
			if o := st.Kept[i]; o.Peer == k.Peer && o.Kind == Reconnecting {
				st.Kept = append(st.Kept[:i], st.Kept[i+1:]...)
				return
			}
		}
	}
	st.Kept = append(st.Kept, k)
}

// KeepFor keeps frame f (the caller's copy), relayed by the member with id
// from, for held seat to of a mesh room. limit bounds what the seat keeps
// in bytes (room messages count keptOverhead each); budget, if set, is
// asked for the frame's bytes once they fit (a backend's cap on all its
// holds). It reports false when the frame does not fit: the hold must end
// (Step.Expire, forced).
func (s *Seats[M]) KeepFor(to *Seat[M], from string, f []byte, limit int, budget func(n int) bool) bool {
	n := len(f)
	for _, k := range to.Kept {
		n += len(k.Frame) + keptOverhead
	}
	if n > limit || budget != nil && !budget(len(f)) {
		return false
	}
	to.Kept = append(to.Kept, Kept{Kind: Frame, Peer: from, Frame: f})
	return true
}

// MeshState is what a backend stores of a mesh room beyond its seats: its
// limit and how many ids it has given (ids are never reused). The zero
// value is a room of two.
type MeshState struct {
	Max  int
	Next uint64
}

// MeshState returns s's mesh state; the zero value for a room of two.
func (s *Seats[M]) MeshState() MeshState {
	if s.mesh == nil {
		return MeshState{}
	}
	return MeshState{Max: s.mesh.max, Next: s.mesh.next}
}

// RestoreMesh rebuilds a room from what a backend stored: Restore for a
// room of two (ms.Max at most 2), else a mesh room of those seats, oldest
// first, each with its id. A seat without an id or with one already
// taken, or a duplicate member, only a foreign writer could store: it is
// left out.
func RestoreMesh[M comparable](ms MeshState, seats []Seat[M], call time.Time) Seats[M] {
	if ms.Max <= 2 {
		return Restore(seats, call)
	}
	s := Seats[M]{mesh: &mesh[M]{max: min(ms.Max, MaxMesh), next: ms.Next}}
	for _, st := range seats {
		if st.Peer == "" || s.mesh.find(st.Member) != nil || s.mesh.byPeer(st.Peer) != nil {
			continue
		}
		if n, err := strconv.ParseUint(st.Peer, 10, 64); err == nil && n > s.mesh.next {
			s.mesh.next = n // never hand out an id a member has
		}
		s.mesh.seats = append(s.mesh.seats, st)
	}
	switch {
	case len(s.mesh.seats) == 0:
		return Seats[M]{}
	case len(s.mesh.seats) >= 2:
		s.call = call
	}
	return s
}
