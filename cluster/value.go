package cluster

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/duet-rtc/duet/room"
)

// roomValue is a room's value in the bucket: the room.Seats of the room,
// as JSON with a format version, one object per member, oldest first (the
// oldest is the one that offers). A transition keeps the values of the
// members it does not touch.
//
// A member's object holds what any node needs to serve its seat: its
// session (the partner's peerSession), the hash of its current resume
// token, and, while its socket is lost, until when its seat is held,
// which node wrote the hold, and the room messages kept for it; and, for
// listings and webhooks once the member's node is gone, its address and
// join time.
type roomValue struct {
	V       int           `json:"v"`
	Members []memberValue `json:"members"`
	// Call is when the room filled (unix ms): the call's start, kept over
	// a resume so that call_ended says when the call really began.
	Call int64 `json:"call,omitempty"`
	// A mesh room's limit and the ids it has given (room.MeshState);
	// absent in a room of two, whose value is as before mesh rooms.
	Max  int    `json:"max,omitempty"`
	Next uint64 `json:"next,omitempty"`
}

type memberValue struct {
	ID        string `json:"id"`
	Session   string `json:"session,omitempty"`
	Resumable bool   `json:"resumable,omitempty"`
	Token     string `json:"token,omitempty"`     // SHA-256 of the current resume token, base64url
	HeldUntil int64  `json:"heldUntil,omitempty"` // unix ms; 0 while its socket is live
	HeldBy    string `json:"heldBy,omitempty"`    // the incarnation that wrote the hold (it watches it)
	Kept      []kept `json:"kept,omitempty"`      // room messages for the held seat, in order
	Remote    string `json:"remote,omitempty"`
	Joined    int64  `json:"joined,omitempty"` // unix ms
	// A mesh room's member: its id, and the hash of its resume token
	// before Token (room.Seat.Prev).
	Peer string `json:"peer,omitempty"`
	Prev string `json:"prev,omitempty"`
}

// kept is one room message kept for a held seat (room.Kept).
type kept struct {
	Kind    string `json:"k"`                 // start, stop, peerReconnecting, peerReconnected
	Reason  string `json:"reason,omitempty"`  // stop's reason
	Session string `json:"session,omitempty"` // start's peerSession
	// In a mesh room: the member the message is about (the sender of a
	// frame), and a frame relayed to the held member (kind "frame").
	Peer  string `json:"peer,omitempty"`
	Frame []byte `json:"frame,omitempty"`
}

const valueVersion = 1

// seats is a room as the cluster stores it: members are member ids.
type seats = room.Seats[string]

// millis is t in unix milliseconds, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// since is a unix-ms time as a time.Time (zero for 0).
func since(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// encodeRoom is the bucket value of s.
func encodeRoom(s *seats) []byte {
	ms := s.MeshState()
	v := roomValue{V: valueVersion, Call: millis(s.Call()), Max: ms.Max, Next: ms.Next}
	for _, st := range s.Members() {
		m := memberValue{ID: st.Member, Session: st.Session, Resumable: st.Resumable, HeldUntil: millis(st.Held),
			HeldBy: st.HeldBy, Remote: st.Remote, Joined: millis(st.Joined), Peer: st.Peer, Token: tokenString(st.Token),
			Prev: tokenString(st.Prev)}
		for _, k := range st.Kept {
			kp := kept{Kind: k.Kind.String(), Session: k.Session, Peer: k.Peer, Frame: k.Frame}
			if k.Reason != 0 {
				kp.Reason = k.Reason.String()
			}
			m.Kept = append(m.Kept, kp)
		}
		v.Members = append(v.Members, m)
	}
	b, _ := json.Marshal(v) // strings, bools and ints only: cannot fail
	return b
}

// decodeRoom rebuilds a room from its stored value. It reads the JSON
// value and the space-separated ids of earlier versions; a value it cannot
// read is an empty room (it only comes from a foreign writer, and an empty
// room lets the next joiner take it over), and so is a member whose id is
// malformed.
func decodeRoom(b []byte) seats {
	if len(b) == 0 || b[0] != '{' {
		var ss []room.Seat[string]
		for _, id := range strings.Fields(string(b)) {
			ss = append(ss, room.Seat[string]{Member: id})
		}
		return room.Restore(ss, time.Time{})
	}
	var v roomValue
	if json.Unmarshal(b, &v) != nil {
		return seats{}
	}
	var ss []room.Seat[string]
	for _, m := range v.Members {
		if _, _, ok := splitMember(m.ID); !ok {
			continue
		}
		st := room.Seat[string]{Member: m.ID, Session: m.Session, Resumable: m.Resumable, Held: since(m.HeldUntil),
			HeldBy: m.HeldBy, Remote: m.Remote, Joined: since(m.Joined), Peer: m.Peer}
		readToken(&st.Token, m.Token)
		readToken(&st.Prev, m.Prev)
		for _, k := range m.Kept {
			if kind := keptKind(k.Kind); kind != 0 {
				st.Kept = append(st.Kept, room.Kept{Kind: kind, Reason: room.ParseReason(k.Reason), Session: k.Session,
					Peer: k.Peer, Frame: k.Frame})
			}
		}
		ss = append(ss, st)
	}
	return room.RestoreMesh(room.MeshState{Max: v.Max, Next: v.Next}, ss, since(v.Call))
}

// tokenString is a stored token hash; "" for none.
func tokenString(h [32]byte) string {
	if h == ([32]byte{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// readToken reads a stored token hash into h; a malformed one is none.
func readToken(h *[32]byte, s string) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil && len(b) == len(h) {
		copy(h[:], b)
	}
}

func keptKind(name string) room.Kind {
	for _, k := range []room.Kind{room.Start, room.Stop, room.Reconnecting, room.Reconnected, room.Frame} {
		if k.String() == name {
			return k
		}
	}
	return 0
}
