package hub

import "context"

// Seated is an optional interface of a Conn. A backend calls Seated when
// the Conn takes a seat in room k — by a new join, or by taking back a
// held or half-open seat (resumed) — with the seat's Member.ID, the id
// room events and listings give it. The transport uses it to tie what it
// learns of a member (its quality reports) to the member that room events
// name. It may run under the backend's locks: it must not block and must
// not call back into the backend.
type Seated interface {
	Seated(k Key, member string, resumed bool)
}

// TellSeated calls c.Seated when c implements Seated.
func TellSeated(c Conn, k Key, member string, resumed bool) {
	if s, ok := c.(Seated); ok {
		s.Seated(k, member, resumed)
	}
}

// Gatherer is implemented by a backend whose rooms span several nodes. It
// carries a small question of the transport's side services (call
// records, live quality, push registrations) to every other live node and
// brings their answers back; a single-process backend has no other node
// to ask and does not implement it.
type Gatherer interface {
	// Gather publishes req under topic to every other live node and
	// returns the answers (JSON, as the nodes' handlers made them) that
	// came before ctx ended or the backend's own bound passed, and how
	// many other nodes were expected to answer.
	Gather(ctx context.Context, topic string, req []byte) (answers [][]byte, expected int, err error)
	// Answer makes this node answer questions under topic with h, which
	// returns JSON (nil: no answer). h runs on a goroutine of its own.
	Answer(topic string, h func(req []byte) []byte) error
}
