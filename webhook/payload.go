package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/quality"
)

// Payload is the JSON body of a webhook request.
type Payload struct {
	ID    string    `json:"id"`    // unique per event, the same on every attempt and URL
	Event string    `json:"event"` // peer_joined, call_started, call_ended, peer_left
	Time  time.Time `json:"time"`  // when the transition happened
	Node  string    `json:"node"`  // the node that saw it
	App   string    `json:"app"`
	Room  string    `json:"room"`
	// Member joined (peer_joined, call_started) or left (peer_left,
	// call_ended).
	Member Member `json:"member"`
	// Members are the call's two members, oldest first (call_started,
	// call_ended). On a cluster a member held by another node than the
	// reporting one carries its id and node only; its details are in its
	// own peer_joined.
	Members []Member `json:"members,omitempty"`
	// Reason says why Member left (peer_left, call_ended): left, closed,
	// timeout, evicted, kicked, nodeFailure; restart for a call_ended whose
	// member joined again to start the call over (it stays in the room).
	Reason string `json:"reason,omitempty"`
	// CallStartedAt (call_started, call_ended) and DurationMs (call_ended)
	// are absent when the node that ended the call could not learn when
	// it began.
	CallStartedAt *time.Time `json:"callStartedAt,omitempty"`
	DurationMs    *int64     `json:"durationMs,omitempty"`
	// Quality (call_ended) is how the call went as its members' quality
	// reports tell; absent when no member sent any (the Ant Media SDKs
	// send none).
	Quality *quality.CallQuality `json:"quality,omitempty"`
}

// Member is one member of a room in a payload.
type Member struct {
	ID        string     `json:"id"`
	Node      string     `json:"node,omitempty"`
	Remote    string     `json:"remote,omitempty"`
	JoinedAt  *time.Time `json:"joinedAt,omitempty"`
	Resumable bool       `json:"resumable"`
	Held      bool       `json:"held,omitempty"`
	// Peer is the member's id in a mesh room (what the other members
	// address it by); absent in a room of two.
	Peer string `json:"peer,omitempty"`
}

// event is a queued event, encoded once, by the first attempt of any of
// its deliveries: RoomEvent runs under the room's lock and only queues.
type event struct {
	id      string
	kind    string
	payload func() any // the body's value
	once    sync.Once
	body    []byte
}

func (e *event) encode() []byte {
	e.once.Do(func() {
		e.body, _ = json.Marshal(e.payload()) // plain types: cannot fail
	})
	return e.body
}

// MemberOf converts a hub member for JSON (admin API and webhooks).
func MemberOf(m hub.Member) Member {
	out := Member{ID: m.ID, Node: m.Node, Remote: m.Remote, Resumable: m.Resumable, Held: m.Held, Peer: m.Peer}
	if !m.JoinedAt.IsZero() {
		t := m.JoinedAt.UTC()
		out.JoinedAt = &t
	}
	return out
}

// PayloadOf builds the body of ev with id.
func PayloadOf(id string, ev hub.Event) Payload {
	p := Payload{ID: id, Event: ev.Kind.String(), Time: ev.Time.UTC(), Node: ev.Node,
		App: ev.Key.App, Room: ev.Key.Stream, Member: MemberOf(ev.Member)}
	for _, m := range ev.Members {
		p.Members = append(p.Members, MemberOf(m))
	}
	if ev.Reason != 0 {
		p.Reason = ev.Reason.String()
	}
	if !ev.CallStart.IsZero() && (ev.Kind == hub.CallStarted || ev.Kind == hub.CallEnded) {
		t := ev.CallStart.UTC()
		p.CallStartedAt = &t
		if ev.Kind == hub.CallEnded {
			d := ev.Time.Sub(ev.CallStart).Milliseconds()
			p.DurationMs = &d
		}
	}
	return p
}

// NewID is a new event id: 128 random bits, hex.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
