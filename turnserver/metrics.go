package turnserver

import "github.com/prometheus/client_golang/prometheus"

// metrics are the embedded TURN server's collectors.
type metrics struct {
	active  prometheus.Gauge
	total   prometheus.Counter
	refused *prometheus.CounterVec
	endedBy *prometheus.CounterVec
	bytes   map[string]prometheus.Counter
	drops   map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duet_turn_relayed_bytes_total", Help: "Bytes relayed by the embedded TURN server, by direction (to_peer, from_peer).",
	}, []string{"direction"})
	drops := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duet_turn_dropped_bytes_total", Help: "Bytes the embedded TURN server dropped over turn_bandwidth, by direction.",
	}, []string{"direction"})
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duet_turn_allocations", Help: "Active allocations on the embedded TURN server.",
		}),
		total: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_turn_allocations_total", Help: "Allocations made by the embedded TURN server.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_turn_refused_total",
			Help: "Requests the embedded TURN server refused, by reason: bad_credentials, expired, revoked, quota, token_quota, ip_quota, capacity, no_port, tcp_relay, peer_<kind> (a relay to a denied address), tls_handshake (a failed or timed-out TLS handshake), tls_busy (too many handshakes at once).",
		}, []string{"reason"}),
		endedBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_turn_allocations_ended_total",
			Help: "Allocations the embedded TURN server ended before their client did, by reason: expired (the credential, and so its room token), removed (an operator removed its member).",
		}, []string{"reason"}),
		bytes: map[string]prometheus.Counter{},
		drops: map[string]prometheus.Counter{},
	}
	for _, d := range []string{"to_peer", "from_peer"} {
		m.bytes[d] = bytes.WithLabelValues(d)
		m.drops[d] = drops.WithLabelValues(d)
	}
	for _, r := range []string{"expired", "removed"} {
		m.endedBy.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.active, m.total, m.refused, m.endedBy, bytes, drops} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) refuse(reason string)      { m.refused.WithLabelValues(reason).Inc() }
func (m *metrics) allocated()                { m.active.Inc(); m.total.Inc() }
func (m *metrics) deallocated()              { m.active.Dec() }
func (m *metrics) ended(reason string)       { m.endedBy.WithLabelValues(reason).Inc() }
func (m *metrics) relayed(dir string, n int) { m.bytes[dir].Add(float64(n)) }
func (m *metrics) dropped(dir string, n int) { m.drops[dir].Add(float64(n)) }
