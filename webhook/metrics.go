package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events     *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
	queued     func() float64
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_webhook_events_total", Help: "Room events queued for webhooks, by event.",
		}, []string{"event"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_webhook_deliveries_total",
			Help: "Webhook deliveries (one event to one URL) by result: delivered; retried (an attempt failed, another is queued); failed (given up: attempts exhausted or a non-retryable answer); dropped (queue full, or abandoned at shutdown).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "duet_webhook_attempt_seconds", Help: "Duration of webhook HTTP attempts.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	for _, r := range []string{"delivered", "retried", "failed", "dropped"} {
		m.deliveries.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "duet_webhook_queue", Help: "Webhook deliveries waiting for an attempt (new or retrying).",
	}, func() float64 {
		if m.queued == nil {
			return 0
		}
		return m.queued()
	})
	for _, c := range []prometheus.Collector{m.events, m.deliveries, m.duration, queue} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) result(r string) prometheus.Counter { return m.deliveries.WithLabelValues(r) }
