package push

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/protocol"
)

type metrics struct {
	commands   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	seconds    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, registered func() int) (*metrics, error) {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duet_push_commands_total",
			Help: "Push commands answered, by command and result: ok, invalid, unauthorized, rate_limited, busy, failed (no device took it)."},
			[]string{"command", "result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duet_push_deliveries_total",
			Help: "Deliveries to one device (or FCM topic), by service (fcm, apn) and result: delivered, invalid_token (the registration was removed), rate_limited, failed."},
			[]string{"service", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duet_push_attempt_seconds",
			Help: "Duration of requests to FCM and APNs.", Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"service"}),
	}
	for _, c := range []string{protocol.CmdRegisterPush, protocol.CmdSendPush} {
		for _, r := range []string{"ok", "invalid", "unauthorized", "rate_limited", "busy", "failed"} {
			m.commands.WithLabelValues(c, r)
		}
	}
	if reg == nil {
		return m, nil
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "duet_push_registrations",
		Help: "Devices registered for push notifications on this node."}, func() float64 { return float64(registered()) })
	for _, c := range []prometheus.Collector{m.commands, m.deliveries, m.seconds, gauge} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) command(cmd, result string) { m.commands.WithLabelValues(cmd, result).Inc() }

func (m *metrics) delivery(service, result string) {
	m.deliveries.WithLabelValues(service, result).Inc()
}

func (m *metrics) attempt(service string, d time.Duration) {
	m.seconds.WithLabelValues(service).Observe(d.Seconds())
}
