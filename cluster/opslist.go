package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/duet-rtc/duet/hub"
)

// Listings: every node answers for its own members, and held seats, whose
// sockets are gone, are read from the bucket.

// localList is this node's part of a listing: its members, by room, as
// their seats (seat.own) describe them.
func (c *Cluster) localList(f hub.Filter) opsListReply {
	var rep opsListReply
	if c.ops.nodeInfo != nil {
		rep.Node = c.ops.nodeInfo()
	}
	rep.Node.ID, rep.Node.Started = c.id, c.ops.started
	byKey := map[hub.Key]*hub.RoomInfo{}
	for _, m := range c.members() {
		m.mu.Lock()
		for k, s := range m.seats {
			if s.joining {
				continue
			}
			rep.Node.Members++
			ri := byKey[k]
			if ri == nil {
				ri = &hub.RoomInfo{Key: k}
				byKey[k] = ri
			}
			if !f.Match(k) {
				continue
			}
			ri.Members = append(ri.Members, c.memberOf(s.own))
			if s.partner != "" {
				ri.CallStart = s.paired
			}
			if s.mesh != nil {
				ri.MaxPeers = s.mesh.max
				if len(s.mesh.peers) > 0 {
					ri.CallStart = s.paired
				}
			}
		}
		m.mu.Unlock()
	}
	rep.Node.Rooms = len(byKey)
	for _, ri := range byKey {
		if len(ri.Members) > 0 {
			rep.Rooms = append(rep.Rooms, *ri)
		}
	}
	rep.Rooms, _ = hub.SortRooms(rep.Rooms, f.Limit)
	return rep
}

// localMember describes local member id of room k, with the start of its
// call.
func (c *Cluster) localMember(k hub.Key, id string) (hub.Member, time.Time, bool) {
	inc, num, ok := splitMember(id)
	if !ok || inc != c.inc {
		return hub.Member{}, time.Time{}, false
	}
	m := c.memberByNum(num)
	if m == nil {
		return hub.Member{}, time.Time{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seats[k]
	if s == nil || s.joining {
		return hub.Member{}, time.Time{}, false
	}
	return c.memberOf(s.own), s.paired, true
}

func (c *Cluster) onOpsList(msg busMsg) {
	var f opsList
	if json.Unmarshal(msg.Data, &f) != nil || msg.respond == nil {
		return
	}
	rep := c.localList(hub.Filter{App: f.App, Stream: f.Stream, Limit: f.Limit})
	rooms := rep.Rooms
	for {
		n := min(len(rooms), opsChunk)
		rep.Rooms, rep.More = rooms[:n], len(rooms) > n
		rooms = rooms[n:]
		b, err := json.Marshal(rep)
		if err != nil || msg.Respond(b) != nil || !rep.More {
			return
		}
	}
}

// Snapshot implements hub.Admin for the whole cluster: every live node is
// asked for its members, and the answers that come within opsGather are
// merged. A node that does not answer makes the snapshot Partial.
func (c *Cluster) Snapshot(ctx context.Context, f hub.Filter) (hub.Snapshot, error) {
	now := time.Now()
	snap := hub.Snapshot{Expected: c.live.Count(now)}
	// Until this node has been up for a heartbeat silence, nodes it has not
	// heard yet may be alive: wait for whoever answers.
	settled := c.live.Settled(now)
	replies := []opsListReply{c.localList(f)}
	if snap.Expected > 1 || !settled {
		ctx, cancel := context.WithTimeout(ctx, opsGather)
		defer cancel()
		req, _ := json.Marshal(opsList{App: f.App, Stream: f.Stream, Limit: f.Limit})
		done := map[string]bool{c.id: true}
		partial := map[string]*opsListReply{}
		err := c.ctl.Gather(ctx, subjectOpsList, req, func(data []byte) bool {
			var rep opsListReply
			if json.Unmarshal(data, &rep) != nil || done[rep.Node.ID] {
				return true
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
			return !settled || len(done) < snap.Expected
		})
		if err != nil {
			return snap, err
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
			ri.MaxPeers = max(ri.MaxPeers, r.MaxPeers)
			if r.CallStart.After(ri.CallStart) {
				ri.CallStart = r.CallStart
			}
		}
	}
	c.addHeld(ctx, f, byKey)
	rooms := make([]hub.RoomInfo, 0, len(byKey))
	for _, ri := range byKey {
		switch {
		case len(ri.Members) == 2:
			ri.Members = ordered(ri.Members[0], ri.Members[1])
		case len(ri.Members) > 2:
			slices.SortStableFunc(ri.Members, func(a, b hub.Member) int { return a.JoinedAt.Compare(b.JoinedAt) })
		default:
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

// ordered lists a call's two members oldest first.
func ordered(a, b hub.Member) []hub.Member {
	if !b.JoinedAt.IsZero() && (a.JoinedAt.IsZero() || b.JoinedAt.Before(a.JoinedAt)) {
		return []hub.Member{b, a}
	}
	return []hub.Member{a, b}
}
