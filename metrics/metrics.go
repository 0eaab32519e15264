// Package metrics defines duet's Prometheus metrics on an injected registry.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/protocol"
)

// Metrics are the server's collectors. Hot-path counters are resolved once
// so recording them costs an atomic add.
type Metrics struct {
	Connections      prometheus.Gauge
	ConnectionsTotal prometheus.Counter
	Joins            prometheus.Counter
	SlowDropped      prometheus.Counter
	Rejected         *prometheus.CounterVec // connections refused, by reason
	ICEAnswers       *prometheus.CounterVec // getIceServerConfig answers, by result

	relayed      map[string]prometheus.Counter
	relayedBytes map[string]prometheus.Counter
	errors       *prometheus.CounterVec
	errorsByDef  map[protocol.Error]prometheus.Counter
}

// RoomStats is read when /metrics is scraped.
type RoomStats func() (rooms, evictions, probes int64)

// New registers duet's metrics on reg.
func New(reg prometheus.Registerer, rooms RoomStats) *Metrics {
	relayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duet_relayed_messages_total", Help: "Messages relayed from one peer to its partner, by command.",
	}, []string{"command"})
	relayedBytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duet_relayed_bytes_total", Help: "Bytes of relayed messages as sent, by command.",
	}, []string{"command"})
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duet_connections", Help: "Open WebSocket connections.",
		}),
		ConnectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_connections_total", Help: "WebSocket connections accepted.",
		}),
		Joins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_joins_total", Help: "Successful room joins.",
		}),
		SlowDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_slow_clients_dropped_total", Help: "Connections dropped because their send queue overflowed.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_connections_rejected_total", Help: "Connections refused or closed by policy, by reason.",
		}, []string{"reason"}),
		ICEAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_ice_answers_total", Help: "getIceServerConfig requests: answered with servers, held until a join, or refused (empty answer: no join with a valid token).",
		}, []string{"result"}),
		relayed:      map[string]prometheus.Counter{},
		relayedBytes: map[string]prometheus.Counter{},
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_errors_total", Help: "Error messages sent to clients, by definition.",
		}, []string{"definition"}),
		errorsByDef: map[protocol.Error]prometheus.Counter{},
	}
	for _, r := range []string{"servers", "held", "refused"} {
		m.ICEAnswers.WithLabelValues(r)
	}
	for _, cmd := range []string{protocol.CmdTakeConfiguration, protocol.CmdTakeCandidate, protocol.CmdPeerMessage} {
		m.relayed[cmd] = relayed.WithLabelValues(cmd)
		m.relayedBytes[cmd] = relayedBytes.WithLabelValues(cmd)
	}
	for _, d := range protocol.Definitions {
		m.errorsByDef[d] = m.errors.WithLabelValues(string(d))
	}
	reg.MustRegister(m.Connections, m.ConnectionsTotal, m.Joins, m.SlowDropped, m.Rejected, m.ICEAnswers,
		relayed, relayedBytes, m.errors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "duet_rooms", Help: "Rooms with at least one member."},
			func() float64 { r, _, _ := rooms(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "duet_evictions_total", Help: "Room members evicted after failing a liveness probe."},
			func() float64 { _, e, _ := rooms(); return float64(e) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "duet_probes_total", Help: "Liveness probes of full rooms."},
			func() float64 { _, _, p := rooms(); return float64(p) }),
	)
	return m
}

// Relayed counts one relayed message of n bytes.
func (m *Metrics) Relayed(cmd string, n int) {
	if c, ok := m.relayed[cmd]; ok {
		c.Inc()
		m.relayedBytes[cmd].Add(float64(n))
	}
}

// Error counts one error sent to a client.
func (m *Metrics) Error(def protocol.Error) {
	if c, ok := m.errorsByDef[def]; ok {
		c.Inc()
		return
	}
	m.errors.WithLabelValues(string(def)).Inc()
}
