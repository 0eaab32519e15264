package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
)

// Operators' requests travel as JSON on core NATS (they are rare and
// small): a listing is published to every node, which answers with its own
// members; a kick or a question about a seat goes to the node holding it.
const (
	subjectOpsList = "duet.ops.list"
	// opsGather bounds how long a listing waits for the other nodes.
	opsGather = 1500 * time.Millisecond
	// opsChunk is the most rooms one answer carries, well within NATS's
	// 1 MB default payload limit; a node sends as many as it needs.
	opsChunk = 500
)

func opsSubject(inc string) string { return "duet.ops.node." + inc }

// ErrNodeUnreachable: the node holding a member did not answer.
var ErrNodeUnreachable = errors.New("cluster: the member's node did not answer")

var _ hub.Admin = (*Cluster)(nil)

type opsList struct {
	App, Stream string
	Limit       int
}

type opsListReply struct {
	Node  hub.NodeInfo
	Rooms []hub.RoomInfo
	More  bool // another chunk follows
}

type opsReq struct {
	Op          string // "kick" or "callStart"
	App, Stream string
	Member      string
	Partner     string // callStart (earlier versions): the partner whose call is asked about
	Reason      hub.Reason
	Tell        bool // kick: tell the partner (stop)
}

type opsReply struct {
	Err    string // "", "no_member", "unavailable"
	Member hub.Member
	Start  time.Time
}

func (c *Cluster) startOps() error {
	c.ops.started = time.Now()
	if err := c.ctl.Subscribe(subjectOpsList, c.onOpsList); err != nil {
		return err
	}
	return c.ctl.Subscribe(opsSubject(c.inc), c.onOps)
}

// SetNodeInfo implements hub.Admin.
func (c *Cluster) SetNodeInfo(f func() hub.NodeInfo) { c.ops.nodeInfo = f }

// Kick implements hub.Admin: the node holding the member's socket removes
// it.
func (c *Cluster) Kick(ctx context.Context, k hub.Key, member string, reason hub.Reason) error {
	st, err := c.roomMembers(ctx, k)
	if err != nil {
		return err
	}
	s := st.Seat(member)
	if s == nil {
		return hub.ErrNoSuchMember
	}
	return c.kickAny(ctx, k, member, s.IsHeld(), reason, true)
}

// EndRoom implements hub.Admin. The members are removed one after the
// other, each by its own node; only the last one's removal would tell a
// partner, and there is none left by then, so each gets one stop.
func (c *Cluster) EndRoom(ctx context.Context, k hub.Key, reason hub.Reason) (int, error) {
	st, err := c.roomMembers(ctx, k)
	if err != nil {
		return 0, err
	}
	members := st.Members()
	n := 0
	var errs []error
	for i, s := range members {
		// Each member is removed by its own node: only the last one's
		// partner is told (room.Step.End), so each gets one stop.
		err := c.kickAny(ctx, k, s.Member, s.IsHeld(), reason, i == len(members)-1)
		if err == nil || errors.Is(err, hub.ErrNoSuchMember) { // gone meanwhile is as good
			n++
			continue
		}
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// roomMembers reads room k from the membership bucket.
func (c *Cluster) roomMembers(ctx context.Context, k hub.Key) (seats, error) {
	val, _, err := c.load(ctx, roomKey(k))
	if err != nil {
		return seats{}, c.unavailable(ctx, "admin", k, err)
	}
	st := decodeRoom(val)
	if st.Empty() {
		return st, hub.ErrNoSuchRoom
	}
	return st, nil
}

// kickAny removes member id from k wherever its socket is. A member of a
// node no longer alive, or whose seat is held (its socket is gone), is
// removed from the bucket by this node.
func (c *Cluster) kickAny(ctx context.Context, k hub.Key, id string, held bool, reason hub.Reason, tell bool) error {
	node := nodeOf(id) // the incarnation holding the socket
	switch {
	case held || node != c.inc && !c.live.Alive(node, time.Now()):
		o, err := c.transact(ctx, k, func(t *txn) error {
			if s := t.s.Seat(id); s != nil && (!held || s.IsHeld()) {
				t.Kick(id, reason, tell)
			}
			return nil
		})
		if err != nil {
			return c.unavailable(ctx, "kick", k, err)
		}
		if !o.changed {
			return hub.ErrNoSuchMember // gone, or taken back, meanwhile
		}
		c.deliver(k, o, "")
		c.effects(k, o)
		return nil
	case node == c.inc:
		return c.kickLocal(ctx, k, id, reason, tell)
	}
	req, _ := json.Marshal(opsReq{Op: "kick", App: k.App, Stream: k.Stream, Member: id, Reason: reason, Tell: tell})
	rep, err := c.askOps(ctx, node, req)
	if err != nil {
		return err
	}
	switch rep.Err {
	case "":
		return nil
	case "no_member":
		return hub.ErrNoSuchMember
	}
	return protocol.ErrServiceUnavailable
}

func (c *Cluster) askOps(ctx context.Context, node string, req []byte) (opsReply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.OpTimeout+time.Second)
	defer cancel()
	data, err := c.ctl.Request(ctx, opsSubject(node), req)
	var rep opsReply
	if err != nil {
		return rep, ErrNodeUnreachable
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, ErrNodeUnreachable
	}
	return rep, nil
}

// kickLocal removes local member id from k: it gets stop and leaved with
// reason; its partner stop with reason when tell is set, else only the
// change of membership (it is removed next).
func (c *Cluster) kickLocal(ctx context.Context, k hub.Key, id string, reason hub.Reason, tell bool) error {
	_, num, ok := splitMember(id)
	m := c.memberByNum(num)
	if !ok || m == nil || m.id != id {
		return hub.ErrNoSuchMember
	}
	m.mu.Lock()
	s := m.seats[k]
	m.mu.Unlock()
	if s == nil || s.joining {
		return hub.ErrNoSuchMember
	}
	if !c.ready.Load() {
		return protocol.ErrServiceUnavailable
	}
	o, err := c.transact(ctx, k, func(t *txn) error {
		t.Kick(id, reason, tell)
		return nil
	})
	if err != nil {
		return c.unavailable(ctx, "kick", k, err)
	}
	m.mu.Lock()
	mine := m.seats[k] == s // not left by itself meanwhile
	if mine {
		c.dropSeatLocked(m, k)
		c.sendOwn(m, k, o, nil)
	}
	m.mu.Unlock()
	c.deliver(k, o, id)
	c.effects(k, o)
	if mine {
		if r, ok := m.conn.(hub.Removable); ok {
			r.Removed(k)
		}
	}
	c.forgetIfIdle(m)
	return nil
}

// onOps serves requests for this node's members, off NATS's goroutine (a
// kick writes to the bucket).
func (c *Cluster) onOps(msg busMsg) {
	var req opsReq
	if json.Unmarshal(msg.Data, &req) != nil {
		return
	}
	k := hub.Key{App: req.App, Stream: req.Stream}
	c.spawn(func() {
		var rep opsReply
		switch req.Op {
		case "kick":
			ctx, cancel := context.WithTimeout(context.Background(), c.opt.OpTimeout)
			err := c.kickLocal(ctx, k, req.Member, req.Reason, req.Tell)
			cancel()
			switch {
			case errors.Is(err, hub.ErrNoSuchMember):
				rep.Err = "no_member"
			case err != nil:
				rep.Err = "unavailable"
			}
		case "callStart":
			// Asked by nodes of earlier versions, which learnt a call's
			// start from its members' nodes.
			var ok bool
			rep.Member, rep.Start, ok = c.localMember(k, req.Member)
			if !ok {
				rep.Err = "no_member"
			}
		default:
			return
		}
		if b, err := json.Marshal(rep); err == nil {
			msg.Respond(b)
		}
	})
}
