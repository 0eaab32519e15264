package room

import "time"

// Leave takes member m out for reason, whatever its seat: ReasonLeft
// (it asked: it gets leaved) or any other. Its partner gets stop with
// reason. Leaving a room one is not in changes nothing; when m asked, it
// still gets leaved. It reports whether m was a member.
func (t *Step[M]) Leave(m M, reason Reason) bool {
	return t.leave(m, reason, reason == ReasonLeft, true)
}

// Lost handles member m's socket going away for reason without m asking
// to leave: a seat that Holds is held for the grace when mayHold (the
// backend's own caps allow it), and stays held if it is already; any
// other seat leaves (Leave). It reports whether the seat is held.
func (t *Step[M]) Lost(m M, reason Reason, mayHold bool) bool {
	st := t.s.find(m)
	if st != nil && st.IsHeld() && Holding(reason) {
		return true
	}
	if mayHold && t.s.Holds(t.r, m, reason) {
		return t.Hold(m, t.now.Add(t.r.Grace))
	}
	t.Leave(m, reason)
	return false
}

// Hold holds member m's seat until the deadline: its socket is lost, and
// a resumable partner hears peerReconnecting. What m relayed for a held
// partner of its own goes with its socket. A seat already held stays as
// it is. It reports whether it held the seat.
func (t *Step[M]) Hold(m M, until time.Time) bool {
	st := t.s.find(m)
	if st == nil || st.IsHeld() {
		return false
	}
	st.Held, st.HeldBy = until, t.by
	t.Unkept += st.Frames.Drop()
	if t.s.mesh != nil {
		t.toOthers(st, Msg[M]{Kind: Reconnecting})
	} else if p, ok := t.s.room.Partner(m); ok {
		t.send(Msg[M]{Kind: Reconnecting, To: p})
	}
	t.note(Note[M]{Kind: NoteHeld, Seat: snapshot(st)})
	return true
}

// Expire gives member m's held seat up (stop to the partner, reason
// timeout) if it is held until the deadline until (zero: whatever its
// deadline) and that has passed, or force (a timer that fired, or a keep
// that overflowed: the hold ends now). A resume, or a later hold, is left
// alone. It reports whether the seat was given up.
func (t *Step[M]) Expire(m M, until time.Time, force bool) bool {
	st := t.s.find(m)
	if st == nil || !st.IsHeld() || !until.IsZero() && !st.Held.Equal(until) || !force && t.now.Before(st.Held) {
		return false
	}
	return t.leave(m, ReasonTimeout, false, true)
}

// Sweep gives up the held seats whose grace has run out (stop, reason
// timeout) and handles the members dead reports gone (their node died):
// a resumable one has its seat held, any other leaves (stop, reason
// nodeFailure). dead may be nil.
func (t *Step[M]) Sweep(dead func(M) bool) {
	for _, m := range t.s.order() {
		st := t.s.find(m)
		switch {
		case st.IsHeld():
			t.Expire(m, time.Time{}, false)
		case dead != nil && dead(m):
			t.Lost(m, ReasonNodeFailure, true)
		}
	}
}

// Evict removes member m, which did not answer a probe, as if its socket
// had closed (ReasonEvicted); a seat held meanwhile waits for its member.
func (t *Step[M]) Evict(m M) bool {
	st := t.s.find(m)
	if st == nil || st.IsHeld() {
		return false
	}
	return t.leave(m, ReasonEvicted, false, true)
}

// Kick removes member m on an operator's order, held or not: a live m
// gets stop and leaved with reason, its partner stop with reason unless
// tell is false (the partner is removed next). It reports whether m was
// a member.
func (t *Step[M]) Kick(m M, reason Reason, tell bool) bool {
	st := t.s.find(m)
	if st == nil {
		return false
	}
	live := !st.IsHeld()
	t.leave(m, reason, false, tell)
	if live {
		t.send(Msg[M]{Kind: Stop, To: m, Reason: reason})
		t.send(Msg[M]{Kind: Leaved, To: m, Reason: reason})
	}
	return true
}

// End removes every member (Kick): each gets exactly one stop. It returns
// the members removed.
func (t *Step[M]) End(reason Reason) []M {
	ms := t.s.order()
	for i, m := range ms {
		// The partner of the first is removed next: it gets its own stop.
		t.Kick(m, reason, i == len(ms)-1)
	}
	return ms
}

// leave takes m out: explicit gives it leaved; its partner gets stop with
// reason when tell. What was kept with the seat goes with it, and so does
// what the partner relayed for it while it was held.
func (t *Step[M]) leave(m M, reason Reason, explicit, tell bool) bool {
	s := t.s
	if s.mesh != nil {
		return t.meshLeave(m, reason, explicit, tell)
	}
	st := s.find(m)
	if st == nil {
		if explicit {
			t.send(Msg[M]{Kind: Leaved, To: m})
		}
		return false
	}
	prev := snapshot(st)
	t.Unkept += st.Frames.Drop()
	var before []Seat[M]
	p, paired := s.room.Partner(m)
	if paired {
		before = t.members()
		t.Unkept += s.find(p).Frames.Drop()
	}
	acts := s.room.Leave(m, explicit)
	s.drop(m)
	for _, a := range acts {
		switch {
		case a.Kind == Leaved:
			t.send(Msg[M]{Kind: Leaved, To: a.To})
		case a.Kind == Stop && tell:
			t.send(Msg[M]{Kind: Stop, To: a.To, Reason: reason})
		}
	}
	start := s.call
	if paired {
		s.call = time.Time{}
	}
	t.note(Note[M]{Kind: NoteLeft, Seat: prev, Reason: reason})
	if paired {
		t.note(Note[M]{Kind: NoteCallEnded, Seat: prev, Members: before, Reason: reason, Call: start})
	}
	return true
}
