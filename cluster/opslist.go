package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/nats-io/nats.go"
)

// Listings: every node answers for its own members, and held seats, whose
// sockets are gone, are read from the bucket.

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
	c.addHeld(ctx, f, byKey)
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

// addHeld adds to a listing the held seats of the rooms f selects: their
// sockets are gone, so no node lists them (the bucket does).
func (c *Cluster) addHeld(ctx context.Context, f hub.Filter, byKey map[hub.Key]*hub.RoomInfo) {
	if !c.holding() {
		return
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	held, calls := c.heldMembers(ctx, f)
	for k, ms := range held {
		ri := byKey[k]
		if ri == nil {
			ri = &hub.RoomInfo{Key: k}
			byKey[k] = ri
		}
	next:
		for _, m := range ms {
			for _, have := range ri.Members {
				if have.ID == m.ID {
					continue next
				}
			}
			ri.Members = append(ri.Members, m)
		}
		if ri.CallStart.IsZero() {
			ri.CallStart = since(calls[k])
		}
	}
}
