package ops

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/quality"
	"github.com/duet-rtc/duet/webhook"
)

// recorder sees every room event of the backend. A call's end becomes the
// call's record — the call_ended payload with how the call went, from
// the quality reports this node holds — kept for the admin API's listing
// of recent calls and sent to the webhooks. Other events go to the
// webhooks as they are. Room events are reported once in a cluster, by
// the node that committed them, so each call has one record.
type recorder struct {
	hooks   *webhook.Sender // nil: no webhooks
	tracker atomic.Pointer[quality.Tracker]
	calls   *callLog
}

var _ hub.Observer = (*recorder)(nil)

// RoomEvent implements hub.Observer. It runs under the room's lock: it
// copies and queues, nothing more.
func (r *recorder) RoomEvent(ev hub.Event) {
	if ev.Kind != hub.CallEnded {
		if r.hooks != nil {
			r.hooks.RoomEvent(ev)
		}
		return
	}
	id := webhook.NewID()
	p := webhook.PayloadOf(id, ev)
	if t := r.tracker.Load(); t != nil {
		p.Quality = t.EndCall(ev)
	}
	r.calls.add(p)
	if r.hooks != nil {
		r.hooks.Queue(p.Event, id, p)
	}
}

// callLog keeps the records of the last calls this node ended.
type callLog struct {
	mu   sync.Mutex
	ring []webhook.Payload
	next int
	size int
}

func newCallLog(size int) *callLog { return &callLog{size: size} }

func (l *callLog) add(p webhook.Payload) {
	if l == nil || l.size <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < l.size {
		l.ring = append(l.ring, p)
		return
	}
	l.ring[l.next] = p
	l.next = (l.next + 1) % l.size
}

// CallFilter selects call records: by app, by room (with app), at most
// Limit of the newest.
type CallFilter struct {
	App, Room string
	Limit     int
}

func (f CallFilter) match(p *webhook.Payload) bool {
	return (f.App == "" || f.App == p.App) && (f.Room == "" || f.Room == p.Room)
}

// list returns the newest records f selects, newest first, and whether
// there were more.
func (l *callLog) list(f CallFilter) ([]webhook.Payload, bool) {
	if l == nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []webhook.Payload
	n := len(l.ring)
	for i := range n {
		p := &l.ring[(l.next-1-i+2*n)%n]
		if !f.match(p) {
			continue
		}
		if len(out) == f.Limit {
			return out, true
		}
		out = append(out, *p)
	}
	return out, false
}

// newestFirst sorts merged records and cuts them to limit.
func newestFirst(ps []webhook.Payload, limit int) ([]webhook.Payload, bool) {
	slices.SortStableFunc(ps, func(a, b webhook.Payload) int { return b.Time.Compare(a.Time) })
	if len(ps) > limit {
		return ps[:limit], true
	}
	return ps, false
}
