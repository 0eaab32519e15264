package room

import (
	"net/netip"
	"time"
)

// Step is one transaction on a Seats: the backend begins it on the room's
// state, applies inputs (Join, Lost, Kick, ...), and carries out what it
// collected: the messages to send, in order, and the notes (operators'
// events, and the holds that began and ended). A cluster that loses its
// compare-and-set throws the Step away and begins again on a fresh read.
type Step[M comparable] struct {
	s   *Seats[M]
	r   *Rules
	now time.Time
	by  string

	// Dead, when set, tells Join which members are gone with their node
	// (a cluster's liveness): Sweep treats them as lost sockets.
	Dead func(M) bool

	// Msgs are the messages for live members, in the order to send them.
	// Those for a held seat were kept in it instead.
	Msgs []Msg[M]
	// Notes report what happened, in order.
	Notes []Note[M]
	// Unkept is the bytes of kept frames (Keep) the Step delivered or
	// dropped: a backend that counts kept bytes gives them back.
	Unkept int
}

// Begin starts a Step on s at now. by names the writer in the holds it
// makes (Seat.HeldBy).
func (s *Seats[M]) Begin(r *Rules, now time.Time, by string) *Step[M] {
	return &Step[M]{s: s, r: r, now: now, by: by}
}

// Msg is one message for one member.
type Msg[M comparable] struct {
	Kind Kind
	To   M
	// Reason: for Stop, why the partner went (or why To was removed, in a
	// kick); for Leaved, why an operator removed To (0: it asked).
	Reason Reason
	// Session: for Start, the joiner's session; for Joined, the partner's
	// (each only to a member that sent a session itself).
	Session string
	Token   string // Joined: the new resume token, "" when not resumable
	Resumed bool   // Joined: the join took a seat back
	Frame   []byte // Frame: a kept frame, the receiver's to send

	// Mesh rooms (mesh.go). Peer: the id of the member the message is
	// about (Start, Stop, Reconnecting, Reconnected), or, for Joined, the
	// receiver's own id. Peers: Joined's list of the other members. Max:
	// Joined's room limit, for a joiner that speaks mesh (2: a room of
	// two, where no message names a peer).
	Peer  string
	Peers []PeerInfo
	Max   int
}

// NoteKind says what a Note reports.
type NoteKind uint8

// Notes of a Step.
const (
	NoteJoined      NoteKind = iota + 1 // Seat entered the room
	NoteCallStarted                     // the room filled, or Seat restarted the call: Members
	NoteCallEnded                       // Seat left a full room, or restarted the call: Members before, Reason, Call
	NoteLeft                            // Seat left for Reason; if it was held, its hold ended
	NoteHeld                            // Seat's socket is lost: its seat is held until Seat.Held
	NoteResumed                         // Seat took back Prev's seat; Live: Prev's socket was live (half-open)
)

// Note is one thing a Step did.
type Note[M comparable] struct {
	Kind    NoteKind
	Seat    Seat[M]   // the member concerned, as it was (without Frames)
	Members []Seat[M] // the call's members, oldest first
	Reason  Reason
	Call    time.Time // NoteCallStarted, NoteCallEnded: when the call began
	Prev    Seat[M]   // NoteResumed: the seat before, with its previous member
	Live    bool      // NoteResumed: the previous socket was still live
}

// snapshot is a copy of st for a Note: Frames stay with the state.
func snapshot[M comparable](st *Seat[M]) Seat[M] {
	c := *st
	c.Frames = Keep{}
	c.Kept = append([]Kept(nil), st.Kept...)
	return c
}

func (t *Step[M]) members() []Seat[M] {
	ms := t.s.order()
	out := make([]Seat[M], 0, len(ms))
	for _, m := range ms {
		out = append(out, snapshot(t.s.find(m)))
	}
	return out
}

func (t *Step[M]) note(n Note[M]) { t.Notes = append(t.Notes, n) }

// send sends m to a live member, keeps it for a held one, and drops the
// resume notices for a member that is not resumable.
func (t *Step[M]) send(m Msg[M]) {
	st := t.s.find(m.To)
	if (m.Kind == Reconnecting || m.Kind == Reconnected) && (st == nil || !st.Resumable) {
		return
	}
	if st != nil && st.IsHeld() {
		t.keep(st, Kept{Kind: m.Kind, Reason: m.Reason, Session: m.Session, Peer: m.Peer})
		return
	}
	t.Msgs = append(t.Msgs, m)
}

// JoinResult tells the caller how a join went.
type JoinResult uint8

// Outcomes of Room.Join (Admitted, Full) and Step.Join (all).
const (
	Admitted  JoinResult = iota + 1 // the joiner is a member (Step.Join: a new one)
	Full                            // two other members: probe them (ProbeTargets) or refuse
	Repeated                        // a member joined again: joined once more, nothing else
	Restarted                       // a member of a full room joined again to start the call over
	Resumed                         // the joiner took back a seat by its resume token
	Removed                         // Again was set, but the joiner is no member (an operator removed it)
	MeshOnly                        // a mesh room, and the joiner does not speak mesh (Joiner.Mesh)
)

// Joiner is a join as the Seats sees it.
type Joiner[M comparable] struct {
	Member    M
	Session   string // "" for the Ant Media SDKs
	Resumable bool
	// Restart: a member that sent a session starts its call over by
	// joining a full room again only when it asks (RestartsCall).
	Restart bool
	Token   string // the resume token it brought, or ""
	// Again: the transport believes the joiner is a member already (and
	// skipped authorization): if it is not, nothing changes (Removed).
	Again bool
	// Prelude: the joiner has a message to get before its joined if the
	// join admits it or gives it a seat back (the ICE servers).
	Prelude bool
	Remote  string
	Addr    netip.Addr
	// Mesh: the joiner speaks the mesh protocol (it sent maxPeers). Max
	// is the room's limit it asks for, within what its app allows: it
	// counts only for the first joiner of an empty room, and makes a
	// mesh room when above 2 (mesh.go).
	Mesh bool
	Max  int
	// RestartPeer: in a mesh room, a restart starts over only the call
	// with the member of this id (meshRestart).
	RestartPeer string
}

// RestartsCall reports whether the join, by a member of a full room,
// starts the call over (Room.Restart): always for a plain member (an Ant
// Media SDK: no session), only when asked for one that sent a session.
func (j *Joiner[M]) RestartsCall() bool { return j.Session == "" || j.Restart }

// Join runs a join:
//
//   - a member of the room joins again: in a full room, when the join
//     RestartsCall, the call starts over (its partner gets stop, reason
//     restart, then start); otherwise it gets joined again. Either way
//     its seat takes what it told us now, and a new resume token;
//   - a resume token that matches a seat takes it back, whether the seat
//     is held (within its grace) or still live (half-open: the client came
//     back before its old socket was noticed dead); the joiner gets joined
//     with resumed, then what was kept for the seat, and a resumable
//     partner peerReconnected;
//   - otherwise held seats whose grace ran out are given up and Dead
//     members removed (Sweep), and the joiner enters the room like in
//     Room.Join, or finds it Full.
func (t *Step[M]) Join(j Joiner[M]) JoinResult {
	s := t.s
	if s.mesh != nil || j.Max > 2 && s.Empty() && !j.Again {
		return t.meshJoin(j)
	}
	if s.room.Has(j.Member) {
		if s.room.Len() == 2 && j.RestartsCall() {
			t.restart(j)
			return Restarted
		}
		st := s.find(j.Member)
		t.update(st, j)
		t.joined(st, j, false)
		return Repeated
	}
	if j.Again {
		return Removed
	}
	if j.Token != "" && t.r.Grace > 0 {
		if st := s.byToken(j.Token); st != nil && (!st.IsHeld() || t.now.Before(st.Held)) {
			t.resume(st, j)
			return Resumed
		}
	}
	t.Sweep(t.Dead)
	res, acts := s.room.Join(j.Member)
	if res == Full {
		return Full
	}
	st := s.add(Seat[M]{Member: j.Member, Joined: t.now, Remote: j.Remote})
	if t.r.Tag != nil {
		st.Tag = t.r.Tag()
	}
	t.update(st, j)
	if j.Prelude {
		t.send(Msg[M]{Kind: Prelude, To: j.Member})
	}
	t.joined(st, j, false)
	for _, a := range acts {
		if a.Kind == Start {
			t.send(Msg[M]{Kind: Start, To: a.To, Session: t.sessionFor(a.To, j.Session)})
		}
	}
	t.note(Note[M]{Kind: NoteJoined, Seat: snapshot(st)})
	if s.room.Len() == 2 {
		s.call = t.now
		t.note(Note[M]{Kind: NoteCallStarted, Seat: snapshot(st), Members: t.members(), Call: s.call})
	}
	return Admitted
}

// update records what a joiner told us in its seat.
func (t *Step[M]) update(st *Seat[M], j Joiner[M]) {
	st.Session, st.Resumable = j.Session, j.Resumable && t.r.Grace > 0
	if j.Addr.IsValid() {
		st.Addr = j.Addr
	}
}

// joined sends st's member its joined: a new resume token when it is
// resumable (the old one stops working), and its partner's session.
func (t *Step[M]) joined(st *Seat[M], j Joiner[M], resumed bool) {
	m := Msg[M]{Kind: Joined, To: st.Member, Token: t.rotate(st), Resumed: resumed}
	if j.Mesh {
		m.Max = 2 // a mesh client learns that this room is of two
	}
	if p, ok := t.s.room.Partner(st.Member); ok && j.Session != "" {
		m.Session = t.s.find(p).Session
	}
	t.send(m)
}

// sessionFor is what start to member to says of a joiner with session:
// only a member that sent a session itself learns it.
func (t *Step[M]) sessionFor(to M, session string) string {
	if st := t.s.find(to); st != nil && st.Session != "" {
		return session
	}
	return ""
}

// restart starts member j's call over (Room.Restart). What was kept for a
// held partner belonged to the negotiation j gave up (its start, what j
// relayed): it is dropped, so that the restart's stop and start are all
// the partner finds on its return.
func (t *Step[M]) restart(j Joiner[M]) {
	s := t.s
	if s.mesh != nil {
		t.meshRestart(j)
		return
	}
	p, _ := s.room.Partner(j.Member)
	ps, st := s.find(p), s.find(j.Member)
	if ps.IsHeld() {
		ps.Kept = nil
	}
	t.Unkept += st.Frames.Drop()
	before, start := t.members(), s.call
	_, acts := s.room.Restart(j.Member)
	t.update(st, j)
	for _, a := range acts {
		switch a.Kind {
		case Stop:
			t.send(Msg[M]{Kind: Stop, To: a.To, Reason: ReasonRestart})
		case Joined:
			t.joined(st, j, false)
		case Start:
			t.send(Msg[M]{Kind: Start, To: a.To, Session: t.sessionFor(a.To, j.Session)})
		}
	}
	s.call = t.now
	t.note(Note[M]{Kind: NoteCallEnded, Seat: snapshot(st), Members: before, Reason: ReasonRestart, Call: start})
	t.note(Note[M]{Kind: NoteCallStarted, Seat: snapshot(st), Members: t.members(), Call: s.call})
}

// resume gives seat st to joiner j. The seat keeps its place, its join
// time, its name and what its member relayed for a held partner; it takes
// what j told us. j gets joined with resumed, what was kept for the seat
// (room messages, then the frames its partner relayed meanwhile); a
// resumable partner gets peerReconnected.
func (t *Step[M]) resume(st *Seat[M], j Joiner[M]) {
	s := t.s
	if s.mesh != nil {
		t.meshResume(st, j)
		return
	}
	prev := snapshot(st)
	s.room.Replace(st.Member, j.Member)
	st.Member, st.Held, st.HeldBy, st.Remote = j.Member, time.Time{}, "", j.Remote
	kept := st.Kept
	st.Kept = nil
	t.update(st, j)
	if j.Prelude {
		t.send(Msg[M]{Kind: Prelude, To: j.Member})
	}
	t.joined(st, j, true)
	for _, k := range kept {
		t.send(Msg[M]{Kind: k.Kind, To: j.Member, Reason: k.Reason, Session: k.Session})
	}
	if p, ok := s.room.Partner(j.Member); ok {
		frames, n, _ := s.find(p).Frames.Take()
		t.Unkept += n
		for _, f := range frames {
			t.send(Msg[M]{Kind: Frame, To: j.Member, Frame: f})
		}
		t.send(Msg[M]{Kind: Reconnected, To: p})
	}
	t.note(Note[M]{Kind: NoteResumed, Seat: snapshot(st), Prev: prev, Live: prev.Held.IsZero()})
}
