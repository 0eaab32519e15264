package cluster

import "errors"

// Errors of the cluster backend. Joins never return them to clients: the
// transport sees protocol errors (protocol.ErrServiceUnavailable) only.
var (
	// ErrNoURL is returned by New without a NATS URL.
	ErrNoURL = errors.New("cluster: no NATS URL")
	// ErrBadNodeID is returned by New for a node id that cannot be a NATS
	// subject token.
	ErrBadNodeID = errors.New("cluster: node id must match [A-Za-z0-9_-]{1,64}")
	// ErrReplicasUnsupported is returned by New when the bucket asks for
	// more than one replica of a NATS server that is not clustered: no
	// retry can make that work.
	ErrReplicasUnsupported = errors.New("cluster: more than one replica asked of a NATS server that is not clustered")

	// Why a node is not ready (Ready).
	ErrNotConnected = errors.New("cluster: not connected to NATS")
	ErrRecovering   = errors.New("cluster: recovering after a NATS outage (or waiting for JetStream)")
	ErrSuperseded   = errors.New("cluster: another process has started with this node_id")
	ErrClosed       = errors.New("cluster: node closed")
)

var errPendingLeaves = errors.New("cluster: leaves still queued")
