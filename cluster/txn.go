package cluster

import (
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// Message kinds beyond the room's own (room.Joined … room.Stop): duet's
// resume notifications, which a transition sends like the room's messages.
const (
	kindReconnecting = room.Stop + 1 // notification peerReconnecting: the partner's seat is held
	kindReconnected  = room.Stop + 2 // notification peerReconnected: the partner took it back
	maxKind          = kindReconnected
)

// act is one message of a transition for one member.
type act struct {
	kind   room.Kind
	to     string
	reason hub.Reason // why the partner went, for a stop
}

// txn is a room transition under way: the room as read, which the
// transition changes in place, and the messages it produces.
type txn struct {
	stored
	acts   []act
	reason hub.Reason // the reason of the stops leave produces unless told otherwise
	now    int64      // unix ms, on the cluster's clock
	// gone are members whose seat a new socket took back: their nodes drop
	// them without a word (a half-open socket is closed).
	gone []string
	// resumed maps the new member id of a resumed seat to the id it took
	// the seat from.
	resumed map[string]string
}

func (t *txn) add(acts []room.Action[string], reason hub.Reason) {
	for _, a := range acts {
		t.acts = append(t.acts, act{kind: a.Kind, to: a.To, reason: reason})
	}
}

// join adds member id (a new member: its value is the caller's to set).
func (t *txn) join(id string) room.JoinResult {
	res, acts := t.room.Join(id)
	t.add(acts, 0)
	return res
}

// leave removes member id: explicit gives it leaved; its partner gets stop
// with reason (the transaction's when 0).
func (t *txn) leave(id string, explicit bool, reason hub.Reason) {
	if reason == 0 {
		reason = t.reason
	}
	t.add(t.room.Leave(id, explicit), reason)
	delete(t.vals, id)
}

// restart starts member id's call over (room.Room.Restart): its partner
// gets stop (reason restart) and start, and a new call begins. The room
// messages kept for a held partner belonged to the call given up: they
// are dropped, so that the stop and the start are all it finds on its
// return (and a start kept before is not cancelled by the stop).
func (t *txn) restart(id string) {
	if p, ok := t.room.Partner(id); ok && t.held(p) != 0 {
		v := t.val(p)
		v.Kept = nil
		t.set(v)
	}
	_, acts := t.room.Restart(id)
	t.add(acts, hub.ReasonRestart)
	t.call = t.now
}

// send adds a message of kind for member to.
func (t *txn) send(kind room.Kind, to string) {
	t.acts = append(t.acts, act{kind: kind, to: to})
}

// replace gives member old's seat (its place, value and hold) to member
// nu, a new socket resuming it, and returns the room messages kept for
// it. The partner hears peerReconnected (if it is resumable).
func (t *txn) replace(old, nu string) []kept {
	v := t.val(old)
	t.room.Replace(old, nu)
	delete(t.vals, old)
	v.ID, v.HeldUntil, v.HeldBy = nu, 0, ""
	ks := v.Kept
	v.Kept = nil
	t.set(v)
	t.gone = append(t.gone, old)
	if t.resumed == nil {
		t.resumed = map[string]string{}
	}
	t.resumed[nu] = old
	if p, ok := t.room.Partner(nu); ok {
		t.send(kindReconnected, p)
	}
	return ks
}

// hold marks member id's seat held until the deadline (unix ms), written
// by incarnation by; its partner hears peerReconnecting. A seat already
// held stays as it is. It reports whether it changed anything.
func (t *txn) hold(id string, until int64, by string) bool {
	v := t.val(id)
	if !t.room.Has(id) || v.HeldUntil != 0 {
		return false
	}
	v.HeldUntil, v.HeldBy = until, by
	t.set(v)
	if p, ok := t.room.Partner(id); ok {
		t.send(kindReconnecting, p)
	}
	return true
}

// finish settles the transition: the call's start, the resume
// notifications only for resumable members, and the messages for held
// seats kept in their values instead of sent.
func (t *txn) finish() {
	switch {
	case t.room.Len() < 2:
		t.call = 0
	case t.call == 0:
		t.call = t.now
	}
	out := t.acts[:0]
	for _, a := range t.acts {
		if (a.kind == kindReconnecting || a.kind == kindReconnected) && !t.val(a.to).Resumable {
			continue
		}
		if t.held(a.to) != 0 {
			t.keep(a)
			continue
		}
		out = append(out, a)
	}
	t.acts = out
}

// keep appends a message for a held seat to its value. A start followed
// by a stop (a partner that came and went while the seat was held), or a
// peerReconnecting by a peerReconnected, cancel out: the member comes
// back to the room as it is.
func (t *txn) keep(a act) {
	v := t.val(a.to)
	k := kept{Kind: keptName(a.kind)}
	switch a.kind {
	case room.Start:
		if p, ok := t.room.Partner(a.to); ok && v.Session != "" {
			k.Session = t.val(p).Session
		}
	case room.Stop:
		if a.reason != 0 {
			k.Reason = a.reason.String()
		}
	}
	if n := len(v.Kept); n > 0 {
		last := v.Kept[n-1].Kind
		if k.Kind == "stop" && last == "start" || k.Kind == "peerReconnected" && last == "peerReconnecting" {
			v.Kept = v.Kept[:n-1]
			t.set(v)
			return
		}
	}
	v.Kept = append(v.Kept, k)
	if len(v.Kept) > maxKept {
		v.Kept = v.Kept[len(v.Kept)-maxKept:]
	}
	t.set(v)
}

func keptName(k room.Kind) string {
	switch k {
	case kindReconnecting:
		return "peerReconnecting"
	case kindReconnected:
		return "peerReconnected"
	}
	return k.String()
}
