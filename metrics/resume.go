package metrics

import "github.com/prometheus/client_golang/prometheus"

// ResumeStats are the counters of held seats, read when /metrics is
// scraped.
type ResumeStats struct {
	Held, Resumes, Expiries int64
	KeptBytes               int64 // bytes of frames kept for held seats now
	// Holds refused by a cap (the lost socket left at once), and holds
	// ended because the frames kept for all held seats reached theirs.
	RefusedPerIP, RefusedTotal, EndedKept int64
}

// RegisterResume registers the metrics of held seats on reg.
func RegisterResume(reg prometheus.Registerer, stats func() ResumeStats) {
	gauge := func(name, help string, v func(ResumeStats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(v(stats())) })
	}
	counter := func(name, help string, v func(ResumeStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(stats())) })
	}
	limits := func(cap string, v func(ResumeStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "duet_held_seat_limits_total",
			Help:        "Holds refused by a held-seat cap (per_ip: max_held_seats_per_ip, total: max_held_seats; the lost socket left at once), or ended early (kept_bytes: max_held_bytes).",
			ConstLabels: prometheus.Labels{"cap": cap},
		}, func() float64 { return float64(v(stats())) })
	}
	reg.MustRegister(
		gauge("duet_held_seats", "Seats held now for a resumable member whose socket was lost.", func(s ResumeStats) int64 { return s.Held }),
		counter("duet_resumes_total", "Seats taken back by a new socket with a resume token (held or half-open).", func(s ResumeStats) int64 { return s.Resumes }),
		counter("duet_hold_expiries_total", "Held seats given up: the reconnect grace ran out, or too much was kept for them.", func(s ResumeStats) int64 { return s.Expiries }),
		gauge("duet_held_bytes", "Bytes of relayed frames kept now for held seats.", func(s ResumeStats) int64 { return s.KeptBytes }),
		limits("per_ip", func(s ResumeStats) int64 { return s.RefusedPerIP }),
		limits("total", func(s ResumeStats) int64 { return s.RefusedTotal }),
		limits("kept_bytes", func(s ResumeStats) int64 { return s.EndedKept }),
	)
}
