package cluster

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// A member id names one local connection cluster-wide: the incarnation of
// the node that holds the socket, a slash, and the connection's number in
// that incarnation. The incarnation part is what a survivor needs to tell
// whose members a dead node leaves behind, and where to send a frame.

func memberID(inc string, num uint64) string {
	return inc + "/" + strconv.FormatUint(num, 10)
}

// splitMember returns a member id's incarnation and number; ok is false
// for a malformed id (which only a foreign writer of the bucket could
// produce).
func splitMember(id string) (inc string, num uint64, ok bool) {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i], n, true
}

// nodeOf is the incarnation a member id belongs to.
func nodeOf(id string) string {
	inc, _, _ := splitMember(id)
	return inc
}

// roomKey is k's key in the membership bucket. App and stream are separate
// key tokens; a streamId may contain '.', the token separator, so it is
// written as '=', which neither an app name nor a streamId can contain.
func roomKey(k hub.Key) string {
	return k.App + "." + strings.ReplaceAll(k.Stream, ".", "=")
}

// roomValue is a room's value in the bucket: JSON with a format version,
// and one object per member, oldest first (the oldest is the one that
// offers). Per-member fields (a resumable seat's session, token hash,
// hold deadline) go into memberValue; a transition keeps the values of
// the members it does not touch.
type roomValue struct {
	V       int           `json:"v"`
	Members []memberValue `json:"members"`
}

type memberValue struct {
	ID string `json:"id"`
}

const valueVersion = 1

// stored is a decoded room: the pure state machine, and what the bucket
// holds per member beyond the id.
type stored struct {
	room  room.Room[string]
	extra map[string]memberValue
}

// encodeRoom is the bucket value of r, with the per-member data of the
// members still in it.
func encodeRoom(r *room.Room[string], extra map[string]memberValue) []byte {
	v := roomValue{V: valueVersion}
	for _, id := range r.Members() {
		mv, ok := extra[id]
		if !ok {
			mv = memberValue{ID: id}
		}
		v.Members = append(v.Members, mv)
	}
	b, _ := json.Marshal(v) // strings and ints only: cannot fail
	return b
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
		s.extra = make(map[string]memberValue, len(v.Members))
		for _, m := range v.Members {
			if _, _, ok := splitMember(m.ID); ok {
				s.room.Join(m.ID)
				s.extra[m.ID] = m
			}
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
