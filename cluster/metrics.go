package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the cluster's collectors; hot-path counters are resolved
// once.
type metrics struct {
	connected    prometheus.Gauge
	rtt          prometheus.Gauge
	nodes        prometheus.Gauge
	deaths       prometheus.Counter
	conflicts    prometheus.Counter
	kvOps        *prometheus.HistogramVec
	framesOut    prometheus.Counter
	framesIn     prometheus.Counter
	eventsOut    prometheus.Counter
	eventsIn     prometheus.Counter
	probesOut    prometheus.Counter
	killsOut     prometheus.Counter
	reconciled   prometheus.Counter
	nearMisses   *prometheus.CounterVec
	resent       prometheus.Counter
	relayDropped prometheus.Counter
	rebuilt      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duet_cluster_messages_total",
		Help: "Messages between duet nodes over NATS, by direction (out, in) and kind (frame, event, probe, kill).",
	}, []string{"direction", "kind"})
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duet_cluster_nats_connected", Help: "1 while this node is connected to NATS and accepts joins.",
		}),
		rtt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duet_cluster_nats_rtt_seconds", Help: "Last measured round trip to the NATS server.",
		}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duet_cluster_nodes", Help: "duet nodes this node believes alive, itself included.",
		}),
		deaths: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_cluster_node_deaths_total", Help: "Nodes declared dead after missing heartbeats.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_cluster_kv_conflicts_total",
			Help: "Membership updates that lost a compare-and-set race and were retried.",
		}),
		kvOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "duet_cluster_kv_seconds",
			Help:    "Latency of membership bucket operations, by operation (get, create, update, delete).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
		reconciled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_cluster_reconcile_kills_total",
			Help: "Local sockets dropped after a NATS outage because the cluster had moved on without them.",
		}),
		nearMisses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_cluster_liveness_near_misses_total",
			Help: "Liveness near misses: late_heartbeat (a node's heartbeat came more than half of node_dead_after after its previous one), " +
				"probe_answered (a node silent for node_dead_after answered the direct probe and was not declared dead), " +
				"late_tick (this node's own heartbeat loop ran late: it was starved of CPU, and judged nobody that round), " +
				"self_cut_off (a silent node did not answer its probe, but this node could not reach NATS either, and judged nobody).",
		}, []string{"kind"}),
		resent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_cluster_relay_resent_total",
			Help: "Frames and room transitions sent again to another node because they were not acknowledged in time.",
		}),
		relayDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_cluster_relay_dropped_total",
			Help: "Relayed frames dropped after being held for an unreachable node past the bounds; their senders got relayFailed.",
		}),
		rebuilt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_cluster_bucket_recreated_total",
			Help: "Times this node found the membership bucket gone (NATS lost its JetStream data) and created it again.",
		}),
	}
	for _, kind := range []string{"late_heartbeat", "probe_answered", "late_tick", "self_cut_off"} {
		m.nearMisses.WithLabelValues(kind)
	}
	m.framesOut, m.framesIn = msgs.WithLabelValues("out", "frame"), msgs.WithLabelValues("in", "frame")
	m.eventsOut, m.eventsIn = msgs.WithLabelValues("out", "event"), msgs.WithLabelValues("in", "event")
	m.probesOut, m.killsOut = msgs.WithLabelValues("out", "probe"), msgs.WithLabelValues("out", "kill")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{msgs, m.connected, m.rtt, m.nodes, m.deaths, m.conflicts, m.kvOps, m.reconciled,
		m.nearMisses, m.resent, m.relayDropped, m.rebuilt} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
