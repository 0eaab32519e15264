package server

import (
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/metrics"
	"github.com/duet-rtc/duet/protocol"
)

// admission favours members coming back to their calls over new callers
// while the node is under pressure — sockets waiting for a reader, or
// connections for a handshake: after a restart every client comes back
// at once, and those with a call to resume should not queue behind
// people placing new ones. A join with a resumeToken goes straight on; a
// join without one waits, outside the reader pool, until the pressure has
// passed or admissionWait is up (then it goes on anyway: a node that stays
// loaded is busy, not stormed). More than maxNewWaiting new joins waiting
// at once: the next is refused with highResourceUsage.
//
// Any resumeToken counts, even one the node no longer knows (after a
// restart none is known): it says the client had a call. A client that
// forges one only gets what every join got before this existed.
type admission struct {
	waiting atomic.Int64
}

const (
	admissionWait = 5 * time.Second
	admissionTick = 20 * time.Millisecond
	maxNewWaiting = 4096
)

// pressure reports whether sockets or connections queue for the node.
func (s *Server) pressure() bool { return s.eng.Busy() || s.gate.Load().full() }

// admitJoin decides whether a join goes on now, after a wait, or not at
// all (false: the client was told highResourceUsage).
func (c *conn) admitJoin(m *protocol.Message, id string) bool {
	s := c.srv
	if m.ResumeToken != "" || !s.pressure() {
		return true
	}
	if s.admit.waiting.Add(1) > maxNewWaiting {
		s.admit.waiting.Add(-1)
		s.metrics.Rejected.WithLabelValues("admission").Inc()
		c.sendError(protocol.ErrHighResourceUsage, id)
		return false
	}
	defer s.admit.waiting.Add(-1)
	s.loadMetrics.AdmissionWaits.Inc()
	c.Outside(func() {
		t := time.NewTicker(admissionTick)
		defer t.Stop()
		deadline := time.Now().Add(admissionWait)
		for s.pressure() && time.Now().Before(deadline) {
			<-t.C
		}
	})
	return true
}

// loadSample reads the pools and the gate for /metrics.
func (s *Server) loadSample() metrics.LoadSample {
	r, w := s.eng.Readers(), s.eng.Writers()
	return metrics.LoadSample{
		Readers: r.Active, ReadersWaiting: r.Waiting, ReadersPeak: r.Peak,
		Writers: w.Active, WritersWaiting: w.Waiting, WritersPeak: w.Peak,
		Pending: s.gate.Load().pending(), PendingFull: s.gate.Load().full(),
	}
}
