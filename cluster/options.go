package cluster

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/hub"
)

// Options configure one node of a cluster. Zero values get defaults.
type Options struct {
	// URL is one or more NATS server URLs, comma-separated. Required.
	URL string
	// NodeID names this node on the cluster's subjects; empty: random.
	// Two live nodes must never share one.
	NodeID string
	// Bucket is the membership bucket's name (default "duet_rooms").
	Bucket string
	// Replicas of the membership bucket: 3 on a three-node NATS cluster.
	Replicas int
	// MemoryStorage keeps the bucket in memory instead of on disk: faster,
	// but a NATS restart forgets every room.
	MemoryStorage bool
	// ProbeTimeout bounds how long a member of a full room has to answer a
	// liveness probe (default 2 s).
	ProbeTimeout time.Duration
	// Heartbeat is the interval of this node's announcements (default
	// 250 ms); DeadAfter the silence after which a node is declared dead
	// (default 1.5 s), so a dead node is noticed within DeadAfter plus one
	// Heartbeat.
	Heartbeat, DeadAfter time.Duration
	// OpTimeout bounds one bucket operation (default 2 s).
	OpTimeout time.Duration
	// StartTimeout bounds how long New waits for NATS and JetStream to
	// answer (default 60 s): a NATS cluster that has just started needs
	// seconds to elect its leaders.
	StartTimeout time.Duration
	// RelayBuffer bounds the bytes of relayed frames and room transitions
	// held per destination node until that node acknowledges them (default
	// 8 MiB); RelayHold how long they are held (default 10 s). Past either
	// bound the held frames are dropped and their senders get
	// relayFailed.
	RelayBuffer int
	RelayHold   time.Duration
	// ReconnectGrace is how long the seat of a member that joined with
	// resumable: true is held when its socket, or its node, is lost
	// without leave (hold.go); 0 holds no seat: resumable is ignored and
	// joined carries no resume token.
	ReconnectGrace time.Duration
	// HoldBytes bounds the frames a node keeps for the held seat of a
	// local member's partner (default 1 MiB); past it the hold ends as if
	// its grace had run out.
	HoldBytes int
	// HoldCaps bound the seats this node holds for its lost sockets, per
	// client address and in all, and the bytes it keeps for held
	// partners (nil: no caps).
	HoldCaps *hub.HoldCaps
	// HoldSweep is how often a node looks in the bucket for held seats
	// whose grace ran out with nobody left to watch them (default 5 s).
	HoldSweep time.Duration
	// Clock gives held seats their deadlines and timers; nil: the system
	// clock.
	Clock Clock
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the cluster's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// NATSOptions are appended to the connection's options.
	NATSOptions []nats.Option
}
