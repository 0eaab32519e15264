package metrics

import "github.com/prometheus/client_golang/prometheus"

// ResumeStats is read when /metrics is scraped.
type ResumeStats func() (held, resumes, expiries int64)

// RegisterResume registers the metrics of held seats on reg.
func RegisterResume(reg prometheus.Registerer, stats ResumeStats) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "duet_held_seats", Help: "Seats held now for a resumable member whose socket was lost."},
			func() float64 { h, _, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "duet_resumes_total", Help: "Seats taken back by a new socket with a resume token (held or half-open)."},
			func() float64 { _, r, _ := stats(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "duet_hold_expiries_total", Help: "Held seats given up: the reconnect grace ran out, or too much was kept for them."},
			func() float64 { _, _, e := stats(); return float64(e) }),
	)
}
