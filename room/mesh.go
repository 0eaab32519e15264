package room

import (
	"slices"
	"strconv"
	"time"
)

// Mesh rooms. A room whose first joiner asks for more than two members
// (Joiner.Max) is a mesh: every member has an id (Seat.Peer), every
// message about another member names it, and every pair of members runs
// its own call. In each pair the member that has been in the room longer
// offers: a newcomer's arrival sends start to every member already there,
// and the newcomer only answers, so two members never offer to each other
// at once. A room of two is never a mesh: the Ant Media SDKs see exactly
// Room's rules.
//
// Seats hold the mesh's members in their order (oldest first) and give
// each its seat rules as in a room of two: a member's seat is held on its
// own, kept messages and frames are the held member's own, and a resume
// takes back only that seat.

// MaxMesh bounds a mesh room's members: each one sends its media to every
// other, so past a handful the senders' uplinks give out long before this.
const MaxMesh = 16

// PeerInfo names another member of a mesh room in a joined.
type PeerInfo struct {
	ID      string
	Session string // its call-session id, to a joiner that sent one
	Held    bool   // its socket is lost and its seat held
}

type mesh[M comparable] struct {
	max   int
	next  uint64    // ids given so far; ids are never reused in a room
	seats []Seat[M] // oldest first: in every pair the older one offers
}

func (m *mesh[M]) find(c M) *Seat[M] {
	for i := range m.seats {
		if m.seats[i].Member == c {
			return &m.seats[i]
		}
	}
	return nil
}

func (m *mesh[M]) byPeer(id string) *Seat[M] {
	for i := range m.seats {
		if m.seats[i].Peer == id {
			return &m.seats[i]
		}
	}
	return nil
}

// order is the members, oldest first, in a room of two or a mesh.
func (s *Seats[M]) order() []M {
	if s.mesh == nil {
		return s.room.Members()
	}
	out := make([]M, len(s.mesh.seats))
	for i := range s.mesh.seats {
		out[i] = s.mesh.seats[i].Member
	}
	return out
}

// Max is the room's member limit: 2, or a mesh room's.
func (s *Seats[M]) Max() int {
	if s.mesh == nil {
		return 2
	}
	return s.mesh.max
}

// Mesh reports whether the room is a mesh room.
func (s *Seats[M]) Mesh() bool { return s.mesh != nil }

// RouteTo says where a frame that from relays to the member with id peer
// goes, in a mesh room: to's seat (held or not) and from's own id. ok is
// false when from is no member, or peer names no other member.
func (s *Seats[M]) RouteTo(from M, peer string) (to *Seat[M], fromPeer string, ok bool) {
	if s.mesh == nil || peer == "" {
		return nil, "", false
	}
	f, to := s.mesh.find(from), s.mesh.byPeer(peer)
	if f == nil || to == nil || to == f {
		return nil, "", false
	}
	return to, f.Peer, true
}

// meshJoin is Join in a mesh room, or in an empty room that j makes one.
func (t *Step[M]) meshJoin(j Joiner[M]) JoinResult {
	s := t.s
	if st := s.find(j.Member); st != nil {
		if s.Len() >= 2 && j.RestartsCall() {
			t.meshRestart(j)
			return Restarted
		}
		t.update(st, j)
		t.meshJoined(st, j, false)
		return Repeated
	}
	if j.Again {
		return Removed
	}
	if j.Token != "" && t.r.Grace > 0 && s.mesh != nil {
		if st := s.byToken(j.Token); st != nil && (!st.IsHeld() || t.now.Before(st.Held)) {
			t.meshResume(st, j)
			return Resumed
		}
	}
	if !j.Mesh {
		return MeshOnly
	}
	if s.mesh == nil {
		s.mesh = &mesh[M]{max: min(j.Max, MaxMesh)}
	}
	t.Sweep(t.Dead)
	if s.Len() >= s.mesh.max {
		return Full
	}
	s.mesh.next++
	s.mesh.seats = append(s.mesh.seats, Seat[M]{Member: j.Member, Joined: t.now, Remote: j.Remote,
		Peer: strconv.FormatUint(s.mesh.next, 10)})
	st := &s.mesh.seats[len(s.mesh.seats)-1]
	if t.r.Tag != nil {
		st.Tag = t.r.Tag()
	}
	t.update(st, j)
	if j.Prelude {
		t.send(Msg[M]{Kind: Prelude, To: j.Member})
	}
	t.meshJoined(st, j, false)
	// Every member already here offers to the newcomer.
	t.toOthers(st, Msg[M]{Kind: Start, Session: j.Session})
	t.note(Note[M]{Kind: NoteJoined, Seat: snapshot(st)})
	if s.Len() == 2 {
		s.call = t.now
		t.note(Note[M]{Kind: NoteCallStarted, Seat: snapshot(st), Members: t.members(), Call: s.call})
	}
	return Admitted
}

// meshJoined sends st's member its joined in a mesh room: its id, the
// room's limit and the other members.
//
// The token before the new one stays good for one more resume: a member's
// socket may die with this joined unread (a mesh member's socket flaps
// more: every pair's trouble probes it), and the member would come back
// with the previous one and find its own held seat filling the room.
func (t *Step[M]) meshJoined(st *Seat[M], j Joiner[M], resumed bool) {
	prev := st.Token
	m := Msg[M]{Kind: Joined, To: st.Member, Token: t.rotate(st), Resumed: resumed, Peer: st.Peer, Max: t.s.mesh.max}
	st.Prev = prev
	for i := range t.s.mesh.seats {
		o := &t.s.mesh.seats[i]
		if o == st {
			continue
		}
		p := PeerInfo{ID: o.Peer, Held: o.IsHeld()}
		if j.Session != "" {
			p.Session = o.Session
		}
		m.Peers = append(m.Peers, p)
	}
	t.send(m)
}

// toOthers sends m, about st's member, to every other member. A Start or
// Joined-like session goes only to members that sent one themselves.
func (t *Step[M]) toOthers(st *Seat[M], m Msg[M]) {
	session := m.Session
	for _, o := range t.s.order() {
		if o == st.Member {
			continue
		}
		m.To, m.Peer, m.Session = o, st.Peer, ""
		if session != "" && t.s.find(o).Session != "" {
			m.Session = session
		}
		t.send(m)
	}
}

// meshRestart starts every call of member j over: it leaves (without
// leaved: the others get stop, reason restart) and joins again as the
// newest member, so that every other member offers to it. It keeps its
// id. What was kept for it while held belongs to the calls given up.
func (t *Step[M]) meshRestart(j Joiner[M]) {
	s := t.s
	st := s.find(j.Member)
	if j.RestartPeer != "" {
		t.restartPair(st, j)
		return
	}
	before, start := t.members(), s.call
	t.toOthers(st, Msg[M]{Kind: Stop, Reason: ReasonRestart})
	i := slices.IndexFunc(s.mesh.seats, func(o Seat[M]) bool { return o.Member == j.Member })
	seat := s.mesh.seats[i]
	s.mesh.seats = append(slices.Delete(s.mesh.seats, i, i+1), seat)
	st = &s.mesh.seats[len(s.mesh.seats)-1]
	t.update(st, j)
	t.meshJoined(st, j, false)
	t.toOthers(st, Msg[M]{Kind: Start, Session: j.Session})
	s.call = t.now
	t.note(Note[M]{Kind: NoteCallEnded, Seat: snapshot(st), Members: before, Reason: ReasonRestart, Call: start})
	t.note(Note[M]{Kind: NoteCallStarted, Seat: snapshot(st), Members: t.members(), Call: s.call})
}

// restartPair starts over only the call between j and the member named
// by j.RestartPeer: that member gets stop (about j, reason restart), j its
// joined, then the member start: it offers anew, whichever is older. An
// id that names no other member restarts nothing (j gets joined).
func (t *Step[M]) restartPair(st *Seat[M], j Joiner[M]) {
	o := t.s.mesh.byPeer(j.RestartPeer)
	t.update(st, j)
	if o == nil || o == st {
		t.meshJoined(st, j, false)
		return
	}
	session := ""
	if o.Session != "" {
		session = j.Session
	}
	t.send(Msg[M]{Kind: Stop, To: o.Member, Peer: st.Peer, Reason: ReasonRestart})
	t.meshJoined(st, j, false)
	t.send(Msg[M]{Kind: Start, To: o.Member, Peer: st.Peer, Session: session})
}

// meshResume gives seat st to joiner j, as resume does in a room of two:
// j gets joined with resumed, then what was kept for the seat, in order
// (room messages and frames together); the other resumable members get
// peerReconnected.
func (t *Step[M]) meshResume(st *Seat[M], j Joiner[M]) {
	prev := snapshot(st)
	st.Member, st.Held, st.HeldBy, st.Remote = j.Member, time.Time{}, "", j.Remote
	kept := st.Kept
	st.Kept = nil
	t.update(st, j)
	if j.Prelude {
		t.send(Msg[M]{Kind: Prelude, To: j.Member})
	}
	t.meshJoined(st, j, true)
	for _, k := range kept {
		if k.Kind == Frame {
			t.Unkept += len(k.Frame)
			t.send(Msg[M]{Kind: Frame, To: j.Member, Frame: k.Frame})
			continue
		}
		t.send(Msg[M]{Kind: k.Kind, To: j.Member, Reason: k.Reason, Session: k.Session, Peer: k.Peer})
	}
	t.toOthers(st, Msg[M]{Kind: Reconnected})
	t.note(Note[M]{Kind: NoteResumed, Seat: snapshot(st), Prev: prev, Live: prev.Held.IsZero()})
}

// meshLeave takes m out of a mesh room: explicit gives it leaved; every
// other member gets stop (about m) with reason when tell. What was kept
// for m goes with it; what m relayed to held members stays theirs (they
// get the stop after it).
func (t *Step[M]) meshLeave(m M, reason Reason, explicit, tell bool) bool {
	s := t.s
	st := s.find(m)
	if st == nil {
		if explicit {
			t.send(Msg[M]{Kind: Leaved, To: m})
		}
		return false
	}
	prev := snapshot(st)
	t.Unkept += keptBytes(st.Kept)
	before, start, paired := t.members(), s.call, s.Len() >= 2
	if explicit {
		t.send(Msg[M]{Kind: Leaved, To: m})
	}
	if tell {
		t.toOthers(st, Msg[M]{Kind: Stop, Reason: reason})
	}
	i := slices.IndexFunc(s.mesh.seats, func(o Seat[M]) bool { return o.Member == m })
	s.mesh.seats = slices.Delete(s.mesh.seats, i, i+1)
	t.note(Note[M]{Kind: NoteLeft, Seat: prev, Reason: reason})
	if paired && s.Len() < 2 {
		s.call = time.Time{}
		t.note(Note[M]{Kind: NoteCallEnded, Seat: prev, Members: before, Reason: reason, Call: start})
	}
	if s.Len() == 0 {
		s.mesh = nil // the next first joiner decides what the room is
	}
	return true
}
