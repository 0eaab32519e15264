package cluster

import (
	"context"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

// joinPlan is what a join's write decided, for the joiner's node.
type joinPlan struct {
	resumedFrom string   // the member whose seat the joiner took back ("": an ordinary join)
	kept        []kept   // the room messages kept for that seat
	token       string   // the joiner's new resume token ("": not resumable)
	evicted     []string // members of dead nodes removed
	expired     []string // held seats whose grace had run out, freed
	held        []string // members of dead nodes whose seats it held
	full        bool     // the room was full: the joiner is not in
}

// joinTxn is the write of m's join into a room:
//
//   - a resume token that matches a member's takes that seat back, whether
//     it is held (its socket lost), still live (half-open: its client came
//     back before the server noticed) or on a dead node; a held seat whose
//     grace has run out matches nothing;
//   - otherwise held seats whose grace has run out are freed (stop, reason
//     timeout), members of dead nodes have their seats held if they are
//     resumable and are removed otherwise (stop, reason nodeFailure), and m
//     joins like on one node.
func (c *Cluster) joinTxn(ctx context.Context, m *member, info hub.JoinInfo, j *joinPlan) func(t *txn) error {
	hash := ""
	if info.ResumeToken != "" && c.holding() && len(info.ResumeToken) <= maxTokenLen {
		hash = tokenHash(info.ResumeToken)
	}
	return func(t *txn) error {
		*j = joinPlan{}
		if hash != "" {
			if id := t.byToken(hash); id != "" && id != m.id {
				if h := t.val(id).HeldUntil; h == 0 || t.now < h {
					j.resumedFrom = id
					j.kept = t.replace(id, m.id)
					j.token = c.setJoiner(t, m.id, info)
					return nil
				}
			}
		}
		for _, id := range t.room.Members() {
			v := t.val(id)
			switch {
			case v.HeldUntil != 0:
				if t.now >= v.HeldUntil {
					t.leave(id, false, hub.ReasonTimeout)
					j.expired = append(j.expired, id)
				}
			case c.live.alive(nodeOf(id), time.Now()) || !c.confirmDead(ctx, nodeOf(id)):
			case v.Resumable && c.holding():
				t.hold(id, t.now+c.opt.ReconnectGrace.Milliseconds(), c.inc)
				j.held = append(j.held, id)
			default:
				t.leave(id, false, hub.ReasonNodeFailure)
				j.evicted = append(j.evicted, id)
			}
		}
		if t.join(m.id) == room.Full {
			j.full = true
			return nil
		}
		j.token = c.setJoiner(t, m.id, info)
		return nil
	}
}

// setJoiner records what a joiner told us in its value, with a new resume
// token when it is resumable (the old one stops working), and returns that
// token. A plain member (an Ant Media SDK) keeps a value of its id alone.
func (c *Cluster) setJoiner(t *txn, id string, info hub.JoinInfo) string {
	v := t.val(id) // a resumed seat's, or a new member's
	resumable := info.Resumable && c.holding()
	v.Session, v.Resumable, v.Token = info.Session, resumable, ""
	tok := ""
	if resumable {
		tok, v.Token = newToken()
		v.Remote = info.Remote
		if v.Joined == 0 {
			v.Joined = time.Now().UnixMilli()
		}
	} else {
		v.Remote, v.Joined = "", 0
	}
	t.set(v)
	return tok
}

// keptFrame encodes a room message kept for a held seat.
func (c *Cluster) keptFrame(k hub.Key, kp kept) []byte {
	switch kp.Kind {
	case "start":
		return protocol.Start(nil, k.Stream, kp.Session)
	case "stop":
		return protocol.Stop(nil, k.Stream, kp.Reason)
	case "peerReconnecting":
		return protocol.PeerReconnecting(nil, k.Stream, c.opt.ReconnectGrace.Milliseconds())
	case "peerReconnected":
		return protocol.PeerReconnected(nil, k.Stream)
	}
	return hub.Frame(room.Leaved, k.Stream) // cannot happen: only the kinds above are kept
}

// joinWritten follows a committed join write, once the joiner's node has
// sent what it sends: it counts and reports what the write did to the
// other members, and keeps the index of held rooms up to date.
func (c *Cluster) joinWritten(k hub.Key, m *member, o outcome, j joinPlan) {
	if !o.changed {
		return
	}
	for _, id := range j.evicted {
		c.evictions.Add(1)
		c.log.Info("removed member of a dead node", "app", k.App, "stream", k.Stream, "member", id)
	}
	if !j.full {
		c.joinEvicted(k, m.id, j.evicted, o)
	}
	for _, id := range j.expired {
		c.expiries.Add(1)
		c.log.Info("held seat expired", "app", k.App, "stream", k.Stream, "member", id, "grace", c.opt.ReconnectGrace)
		c.reportHeldGone(k, id, o, hub.ReasonTimeout)
		c.sendGone(k, id, o.was.val(id).HeldBy)
	}
	for _, id := range j.held {
		c.watchHold(k, id, o.st.held(id))
		c.log.Info("holding seat of a dead node's member", "app", k.App, "stream", k.Stream, "member", id, "grace", c.opt.ReconnectGrace)
	}
	if len(j.held) > 0 {
		c.heldWritten(k, o)
	}
	if j.resumedFrom != "" {
		c.resumes.Add(1)
		c.log.Info("seat resumed", "app", k.App, "stream", k.Stream, "member", m.id, "from", j.resumedFrom,
			"half_open", o.was.held(j.resumedFrom) == 0, "kept_messages", len(j.kept))
	}
	if j.resumedFrom != "" || len(j.expired) > 0 {
		c.spawn(func() { c.tidyHoldIndex(k) })
	}
}
