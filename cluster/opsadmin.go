package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

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
	Partner     string // callStart: the partner whose call is asked about
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
	c.ops.seats = map[seatID]*seatMeta{}
	c.ops.leaving = map[seatID]leaveNote{}
	if _, err := c.nc.Subscribe(subjectOpsList, c.onOpsList); err != nil {
		return err
	}
	_, err := c.nc.Subscribe(opsSubject(c.inc), c.onOps)
	return err
}

// SetNodeInfo implements hub.Admin.
func (c *Cluster) SetNodeInfo(f func() hub.NodeInfo) { c.ops.nodeInfo = f }

// localList is this node's part of a listing: its members, by room.
func (c *Cluster) localList(f hub.Filter) opsListReply {
	var rep opsListReply
	if c.ops.nodeInfo != nil {
		rep.Node = c.ops.nodeInfo()
	}
	rep.Node.ID, rep.Node.Started = c.id, c.ops.started
	byKey := map[hub.Key]*hub.RoomInfo{}
	c.ops.mu.Lock()
	rep.Node.Members = len(c.ops.seats)
	for sid, s := range c.ops.seats {
		ri := byKey[sid.k]
		if ri == nil {
			ri = &hub.RoomInfo{Key: sid.k}
			byKey[sid.k] = ri
		}
		if !f.Match(sid.k) {
			continue
		}
		ri.Members = append(ri.Members, c.memberInfo(sid.member, s))
		if s.partner != "" {
			ri.CallStart = s.paired
		}
	}
	c.ops.mu.Unlock()
	rep.Node.Rooms = len(byKey)
	for _, ri := range byKey {
		if len(ri.Members) > 0 {
			rep.Rooms = append(rep.Rooms, *ri)
		}
	}
	rep.Rooms, _ = hub.SortRooms(rep.Rooms, f.Limit)
	return rep
}

func (c *Cluster) onOpsList(msg *nats.Msg) {
	var f opsList
	if json.Unmarshal(msg.Data, &f) != nil || msg.Reply == "" {
		return
	}
	rep := c.localList(hub.Filter{App: f.App, Stream: f.Stream, Limit: f.Limit})
	rooms := rep.Rooms
	for {
		n := min(len(rooms), opsChunk)
		rep.Rooms, rep.More = rooms[:n], len(rooms) > n
		rooms = rooms[n:]
		b, err := json.Marshal(rep)
		if err != nil || c.nc.Publish(msg.Reply, b) != nil || !rep.More {
			return
		}
	}
}

// Snapshot implements hub.Admin for the whole cluster: every live node is
// asked for its members, and the answers that come within opsGather are
// merged. A node that does not answer makes the snapshot Partial.
func (c *Cluster) Snapshot(ctx context.Context, f hub.Filter) (hub.Snapshot, error) {
	now := time.Now()
	snap := hub.Snapshot{Expected: c.live.count(now)}
	// Until this node has been up for a heartbeat silence, nodes it has not
	// heard yet may be alive: wait for whoever answers.
	settled := c.live.settled(now)
	replies := []opsListReply{c.localList(f)}
	if snap.Expected > 1 || !settled {
		ctx, cancel := context.WithTimeout(ctx, opsGather)
		defer cancel()
		inbox := c.nc.NewRespInbox()
		ch := make(chan *nats.Msg, 256)
		sub, err := c.nc.ChanSubscribe(inbox, ch)
		if err != nil {
			return snap, err
		}
		defer sub.Unsubscribe()
		req, _ := json.Marshal(opsList{App: f.App, Stream: f.Stream, Limit: f.Limit})
		if err := c.nc.PublishRequest(subjectOpsList, inbox, req); err != nil {
			return snap, err
		}
		done := map[string]bool{c.id: true}
		partial := map[string]*opsListReply{}
	gather:
		for !settled || len(done) < snap.Expected {
			select {
			case m := <-ch:
				var rep opsListReply
				if json.Unmarshal(m.Data, &rep) != nil || done[rep.Node.ID] {
					continue
				}
				if p := partial[rep.Node.ID]; p != nil {
					p.Rooms = append(p.Rooms, rep.Rooms...)
				} else {
					cp := rep
					partial[rep.Node.ID] = &cp
				}
				if !rep.More {
					done[rep.Node.ID] = true
					replies = append(replies, *partial[rep.Node.ID])
				}
			case <-ctx.Done():
				break gather
			}
		}
	}
	snap.Expected = max(snap.Expected, len(replies))
	snap.Partial = len(replies) < snap.Expected
	byKey := map[hub.Key]*hub.RoomInfo{}
	for _, rep := range replies {
		snap.Nodes = append(snap.Nodes, rep.Node)
		for _, r := range rep.Rooms {
			ri := byKey[r.Key]
			if ri == nil {
				ri = &hub.RoomInfo{Key: r.Key}
				byKey[r.Key] = ri
			}
			ri.Members = append(ri.Members, r.Members...)
			if r.CallStart.After(ri.CallStart) {
				ri.CallStart = r.CallStart
			}
		}
	}
	rooms := make([]hub.RoomInfo, 0, len(byKey))
	for _, ri := range byKey {
		if len(ri.Members) == 2 {
			ri.Members = ordered(ri.Members[0], ri.Members[1])
		} else {
			ri.CallStart = time.Time{}
		}
		rooms = append(rooms, *ri)
	}
	snap.Rooms, snap.Truncated = hub.SortRooms(rooms, f.Limit)
	return snap, nil
}

// Kick implements hub.Admin: the node holding the member's socket removes
// it.
func (c *Cluster) Kick(ctx context.Context, k hub.Key, member string, reason hub.Reason) error {
	members, err := c.roomMembers(ctx, k)
	if err != nil {
		return err
	}
	found := false
	for _, id := range members {
		found = found || id == member
	}
	if !found {
		return hub.ErrNoSuchMember
	}
	return c.kickAny(ctx, k, member, reason, true)
}

// EndRoom implements hub.Admin. The members are removed one after the
// other, each by its own node; only the last one's removal would tell a
// partner, and there is none left by then, so each gets one stop.
func (c *Cluster) EndRoom(ctx context.Context, k hub.Key, reason hub.Reason) (int, error) {
	members, err := c.roomMembers(ctx, k)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for i, id := range members {
		err := c.kickAny(ctx, k, id, reason, i == len(members)-1)
		if err == nil || errors.Is(err, hub.ErrNoSuchMember) { // gone meanwhile is as good
			n++
			continue
		}
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// roomMembers reads room k's members from the membership bucket.
func (c *Cluster) roomMembers(ctx context.Context, k hub.Key) ([]string, error) {
	val, _, err := c.load(ctx, roomKey(k))
	if err != nil {
		return nil, c.unavailable(ctx, "admin", k, err)
	}
	st := decodeRoom(val)
	if st.room.Empty() {
		return nil, hub.ErrNoSuchRoom
	}
	return st.room.Members(), nil
}

// kickAny removes member id from k wherever its socket is. A member of a
// node no longer alive is removed from the bucket by this node.
func (c *Cluster) kickAny(ctx context.Context, k hub.Key, id string, reason hub.Reason, tell bool) error {
	node := nodeOf(id) // the incarnation holding the socket
	switch {
	case node == c.inc:
		return c.kickLocal(ctx, k, id, reason, tell)
	case !c.live.alive(node, time.Now()):
		o, err := c.transact(ctx, k, removeMember(id))
		if err != nil {
			return c.unavailable(ctx, "kick", k, err)
		}
		o.reason = reason
		c.removedBy(k, id, o, reason)
		c.deliverTold(k, o, "", tell)
		return nil
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
	msg, err := c.nc.RequestWithContext(ctx, opsSubject(node), req)
	var rep opsReply
	if err != nil {
		return rep, ErrNodeUnreachable
	}
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
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
	o, err := c.transact(ctx, k, removeMember(id))
	if err != nil {
		return c.unavailable(ctx, "kick", k, err)
	}
	o.reason = reason
	m.mu.Lock()
	mine := m.seats[k] == s // not left by itself meanwhile
	if mine {
		c.dropSeatLocked(m, k)
		m.conn.Send(hub.StopFrame(k.Stream, reason))
		m.conn.Send(hub.LeavedFrame(k.Stream, reason))
	}
	m.mu.Unlock()
	c.deliverTold(k, o, id, tell)
	if mine {
		c.left(k, id, o, reason, false)
		if r, ok := m.conn.(hub.Removable); ok {
			r.Removed(k)
		}
	}
	c.forgetIfIdle(m)
	return nil
}

// deliverTold delivers a removal's messages, or, when the partner is not
// to be told, only the new membership (an event without messages).
func (c *Cluster) deliverTold(k hub.Key, o outcome, self string, tell bool) {
	if tell || !o.changed {
		c.deliver(k, o, self, o.reason)
		return
	}
	for _, p := range o.r.Members() {
		c.sendEvent(p, k, event{prev: o.prev, rev: o.rev})
	}
}

// askCallStart asks partner's node when partner's call with gone began.
func (c *Cluster) askCallStart(ctx context.Context, k hub.Key, partner, gone string) (hub.Member, time.Time) {
	pm := c.memberInfo(partner, nil)
	node := nodeOf(partner)
	if node == c.inc || !c.live.alive(node, time.Now()) {
		return pm, time.Time{}
	}
	req, _ := json.Marshal(opsReq{Op: "callStart", App: k.App, Stream: k.Stream, Member: partner, Partner: gone})
	rep, err := c.askOps(ctx, node, req)
	if err != nil || rep.Err != "" {
		return pm, time.Time{}
	}
	return rep.Member, rep.Start
}

// onOps serves requests for this node's members, off NATS's goroutine (a
// kick writes to the bucket).
func (c *Cluster) onOps(msg *nats.Msg) {
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
			meta := c.localSeat(req.Member, k)
			if meta == nil {
				rep.Err = "no_member"
				break
			}
			rep.Member = c.memberInfo(req.Member, meta)
			rep.Start = meta.pairedWith(req.Partner)
		default:
			return
		}
		if b, err := json.Marshal(rep); err == nil {
			msg.Respond(b)
		}
	})
}

// settled reports whether the grace for nodes not heard yet is over: then
// the nodes counted alive are all there are.
func (l *liveness) settled(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.Sub(l.since) >= l.deadAfter
}
