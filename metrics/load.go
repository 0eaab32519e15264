package metrics

import "github.com/prometheus/client_golang/prometheus"

// LoadStats is read when /metrics is scraped: the socket engine's reader
// and writer pools and the connections between accept and upgrade.
type LoadStats func() LoadSample

// LoadSample is one reading of LoadStats.
type LoadSample struct {
	Readers, ReadersWaiting, ReadersPeak int
	Writers, WritersWaiting, WritersPeak int
	Pending                              int  // connections between accept and upgrade
	PendingFull                          bool // more wait in the accept queue
}

// Load is what a reconnect storm shows: how much of the bounded pools is
// in use, how much waits, and how many new joins waited for the calls
// being resumed.
type Load struct {
	AdmissionWaits prometheus.Counter
}

// RegisterLoad registers the load metrics on reg.
func RegisterLoad(reg prometheus.Registerer, stats LoadStats) *Load {
	m := &Load{AdmissionWaits: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "duet_join_admission_waits_total",
		Help: "Joins without a resumeToken made to wait while the node was under pressure, so that members resuming their calls went first.",
	})}
	g := func(name, help string, f func(LoadSample) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	reg.MustRegister(m.AdmissionWaits,
		g("duet_socket_readers", "Goroutines reading sockets now (bounded; the rest of the sockets are parked).", func(s LoadSample) float64 { return float64(s.Readers) }),
		g("duet_socket_readers_waiting", "Sockets with bytes to read waiting for a reader: a burst larger than the reader pool.", func(s LoadSample) float64 { return float64(s.ReadersWaiting) }),
		g("duet_socket_readers_peak", "Most goroutines reading sockets at once since the start.", func(s LoadSample) float64 { return float64(s.ReadersPeak) }),
		g("duet_socket_writers", "Goroutines writing to sockets now (bounded).", func(s LoadSample) float64 { return float64(s.Writers) }),
		g("duet_socket_writers_waiting", "Sockets with frames to write waiting for a writer.", func(s LoadSample) float64 { return float64(s.WritersWaiting) }),
		g("duet_socket_writers_peak", "Most goroutines writing to sockets at once since the start.", func(s LoadSample) float64 { return float64(s.WritersPeak) }),
		g("duet_connections_pending", "Connections between accept and their WebSocket upgrade or first answer (TLS handshakes, HTTP requests); bounded.", func(s LoadSample) float64 { return float64(s.Pending) }),
		g("duet_connections_pending_full", "1 while connections wait in the accept queue because the pending ones are at their bound.", func(s LoadSample) float64 { return b(s.PendingFull) }),
	)
	return m
}
