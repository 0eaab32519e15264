package cluster

import (
	"encoding/json"
	"strings"

	"github.com/duet-rtc/duet/room"
)

// roomValue is a room's value in the bucket: JSON with a format version,
// and one object per member, oldest first (the oldest is the one that
// offers). A transition keeps the values of the members it does not touch.
//
// A plain member (an Ant Media SDK) is only its id. A member that sent a
// session or asked to be resumable also has what any node needs to serve
// its seat: its session (the partner's peerSession), the hash of its
// current resume token, and, while its socket is lost, until when its seat
// is held, which node wrote the hold, and the room messages kept for it.
type roomValue struct {
	V       int           `json:"v"`
	Members []memberValue `json:"members"`
	// Call is when the room filled (unix ms): the call's start, kept over
	// a resume so that call_ended says when the call really began.
	Call int64 `json:"call,omitempty"`
}

type memberValue struct {
	ID        string `json:"id"`
	Session   string `json:"session,omitempty"`
	Resumable bool   `json:"resumable,omitempty"`
	Token     string `json:"token,omitempty"`     // SHA-256 of the current resume token, base64url
	HeldUntil int64  `json:"heldUntil,omitempty"` // unix ms; 0 while its socket is live
	HeldBy    string `json:"heldBy,omitempty"`    // the incarnation that wrote the hold (it watches it)
	Kept      []kept `json:"kept,omitempty"`      // room messages for the held seat, in order
	// For listings and webhooks once the member's node is gone: kept for
	// resumable members only.
	Remote string `json:"remote,omitempty"`
	Joined int64  `json:"joined,omitempty"` // unix ms
}

// kept is one room message kept for a held seat, sent after its resumed
// joined.
type kept struct {
	Kind    string `json:"k"`                 // start, stop, peerReconnecting, peerReconnected
	Reason  string `json:"reason,omitempty"`  // stop's reason
	Session string `json:"session,omitempty"` // start's peerSession
}

const valueVersion = 1

// maxKept bounds the room messages kept for a held seat. A start followed
// by a stop, or a peerReconnecting by a peerReconnected, cancel out (see
// keep), so only a room whose partners change faster than that can pass
// it; the oldest are then dropped.
const maxKept = 16

// stored is a decoded room: the pure state machine, and what the bucket
// holds per member beyond the id.
type stored struct {
	room room.Room[string]
	vals map[string]memberValue
	call int64
}

// val is member id's value (its id alone for a plain member).
func (s *stored) val(id string) memberValue {
	if v, ok := s.vals[id]; ok {
		return v
	}
	return memberValue{ID: id}
}

// set records member id's value.
func (s *stored) set(v memberValue) {
	if s.vals == nil {
		s.vals = map[string]memberValue{}
	}
	s.vals[v.ID] = v
}

// held is the deadline of member id's held seat (unix ms), 0 if it is not
// held (or not a member).
func (s *stored) held(id string) int64 {
	if !s.room.Has(id) {
		return 0
	}
	return s.val(id).HeldUntil
}

// holds is the earliest deadline of the room's held seats, 0 if none.
func (s *stored) holds() int64 {
	var first int64
	for _, id := range s.room.Members() {
		if h := s.val(id).HeldUntil; h != 0 && (first == 0 || h < first) {
			first = h
		}
	}
	return first
}

// clone copies s so that a transition can change it.
func (s *stored) clone() stored {
	cp := stored{room: s.room, call: s.call, vals: make(map[string]memberValue, len(s.vals))}
	for id, v := range s.vals {
		v.Kept = append([]kept(nil), v.Kept...)
		cp.vals[id] = v
	}
	return cp
}

// encode is the bucket value of s, with the values of the members still in
// the room.
func (s *stored) encode() []byte {
	v := roomValue{V: valueVersion, Call: s.call}
	for _, id := range s.room.Members() {
		v.Members = append(v.Members, s.val(id))
	}
	b, _ := json.Marshal(v) // strings, bools and ints only: cannot fail
	return b
}

// encodeRoom is the bucket value of r, with the per-member values of the
// members still in it.
func encodeRoom(r *room.Room[string], vals map[string]memberValue) []byte {
	s := stored{room: *r, vals: vals}
	return s.encode()
}

// decodeRoom rebuilds the pure state machine from a stored value by
// replaying the joins in order, which yields exactly the stored state. It
// reads the JSON value and the space-separated ids of earlier versions; a
// value it cannot read is an empty room (it only comes from a foreign
// writer, and an empty room lets the next joiner take it over).
func decodeRoom(b []byte) stored {
	var s stored
	if len(b) > 0 && b[0] == '{' {
		var v roomValue
		if json.Unmarshal(b, &v) != nil {
			return s
		}
		s.vals = make(map[string]memberValue, len(v.Members))
		for _, m := range v.Members {
			if _, _, ok := splitMember(m.ID); ok {
				s.room.Join(m.ID)
				s.vals[m.ID] = m
			}
		}
		if s.room.Len() == 2 {
			s.call = v.Call
		}
		return s
	}
	for _, m := range strings.Fields(string(b)) {
		s.room.Join(m)
	}
	return s
}

func sameMembers(a, b *room.Room[string]) bool {
	am, bm := a.Members(), b.Members()
	if len(am) != len(bm) {
		return false
	}
	for i := range am {
		if am[i] != bm[i] {
			return false
		}
	}
	return true
}
