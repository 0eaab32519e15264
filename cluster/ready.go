package cluster

import "github.com/duet-rtc/duet/hub"

var _ hub.Readiness = (*Cluster)(nil)

// Ready implements hub.Readiness: nil while this node can serve joins,
// otherwise why not. The server's /readyz answers 503 meanwhile, so a load
// balancer sends new clients to the nodes that can.
func (c *Cluster) Ready() error {
	select {
	case <-c.stop:
		return ErrClosed
	default:
	}
	switch {
	case c.superseded.Load():
		return ErrSuperseded
	case !c.connected():
		return ErrNotConnected
	case !c.ready.Load():
		return ErrRecovering
	}
	return nil
}
