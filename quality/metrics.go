package quality

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons of duet_quality_reports_dropped_total.
const (
	DropTooLarge  = "too_large"   // over MaxReportBytes
	DropInvalid   = "invalid"     // a field of the wrong type or out of range, or no seq
	DropRate      = "rate"        // more often than the report rate allows
	DropNotInCall = "not_in_call" // for a room the socket is not in, or without a partner
)

// MaxApps bounds the app label: the first MaxApps apps a node sees get
// their own; the others share OtherApp. Apps are named by clients (any
// [A-Za-z0-9_-]{1,64} in the socket's URL), so an unbounded label would be
// theirs to blow up.
const MaxApps = 32

// OtherApp is the app label past MaxApps.
const OtherApp = "_other"

// Metrics are the quality collectors. Per-report measures are counted by
// the node that received the report, once; per-call ones by the node
// that ended the call, once in a cluster.
type Metrics struct {
	reports  *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	setup    *prometheus.HistogramVec
	rtt      *prometheus.HistogramVec
	jitter   *prometheus.HistogramVec
	loss     *prometheus.HistogramVec
	bitrate  *prometheus.HistogramVec
	grades   *prometheus.CounterVec
	restarts *prometheus.CounterVec
	resumes  *prometheus.CounterVec
	calls    *prometheus.CounterVec

	mu   sync.Mutex
	apps map[string]bool
}

// NewMetrics registers the collectors on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	ac := []string{"app", "candidate"}
	m := &Metrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duet_quality_reports_total",
			Help: "Quality reports taken from duet's SDKs, by app."}, []string{"app"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duet_quality_reports_dropped_total",
			Help: "Quality reports dropped, by reason: too_large, invalid, rate, not_in_call."}, []string{"reason"}),
		setup: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duet_quality_setup_seconds",
			Help:    "Time from a member's join to its first media, by app and the selected local candidate type.",
			Buckets: []float64{.25, .5, 1, 2, 3, 5, 10, 20, 30}}, ac),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duet_quality_rtt_seconds",
			Help:    "Round-trip time of the selected candidate pair, per report.",
			Buckets: []float64{.01, .025, .05, .1, .2, .3, .4, .6, 1, 2}}, ac),
		jitter: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duet_quality_jitter_seconds",
			Help:    "Jitter of received media, per report.",
			Buckets: []float64{.005, .01, .02, .03, .05, .1, .2}}, ac),
		loss: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duet_quality_loss_ratio",
			Help:    "Fraction of received packets lost in a report's interval.",
			Buckets: []float64{0, .001, .005, .01, .02, .05, .1, .2, .5}}, ac),
		bitrate: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duet_quality_bitrate_bits_per_second",
			Help:    "Media bitrate per report, by direction (in: received, out: sent).",
			Buckets: []float64{32e3, 64e3, 128e3, 256e3, 512e3, 1e6, 2e6, 4e6, 8e6}}, []string{"app", "candidate", "direction"}),
		grades: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duet_quality_grades_total",
			Help: "Reports by grade: good, fair, poor."}, []string{"app", "level"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duet_quality_ice_restarts_total",
			Help: "ICE restarts the SDKs reported."}, []string{"app"}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duet_quality_resumes_total",
			Help: "Resumes after a lost socket the SDKs reported."}, []string{"app"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duet_quality_calls_total",
			Help: "Calls ended, by app and candidate type: relay when either end's selected pair went through TURN, else the best type reported, unknown without reports (Ant Media SDKs)."}, ac),
		apps: map[string]bool{},
	}
	for _, r := range []string{DropTooLarge, DropInvalid, DropRate, DropNotInCall} {
		m.dropped.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.reports, m.dropped, m.setup, m.rtt, m.jitter, m.loss, m.bitrate,
			m.grades, m.restarts, m.resumes, m.calls} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Dropped counts a dropped report.
func (m *Metrics) Dropped(reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

// app is the label for an app name.
func (m *Metrics) app(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.apps[name] {
		return name
	}
	if len(m.apps) < MaxApps {
		m.apps[name] = true
		return name
	}
	return OtherApp
}

func candidateLabel(c Candidate) string {
	if c == CandidateUnknown {
		return "unknown"
	}
	return c.String()
}

// memberMetrics are one member's collectors, looked up once per app and
// candidate type rather than per report.
type memberMetrics struct {
	app, cand                  string
	rtt, jitter, loss, in, out prometheus.Observer
	reports, restarts, resumes prometheus.Counter
	good, fair, poor           prometheus.Counter
}

func (m *Metrics) forMember(app string, c Candidate) *memberMetrics {
	a, cl := m.app(app), candidateLabel(c)
	return &memberMetrics{app: app, cand: cl,
		rtt: m.rtt.WithLabelValues(a, cl), jitter: m.jitter.WithLabelValues(a, cl), loss: m.loss.WithLabelValues(a, cl),
		in: m.bitrate.WithLabelValues(a, cl, "in"), out: m.bitrate.WithLabelValues(a, cl, "out"),
		reports: m.reports.WithLabelValues(a), restarts: m.restarts.WithLabelValues(a), resumes: m.resumes.WithLabelValues(a),
		good: m.grades.WithLabelValues(a, "good"), fair: m.grades.WithLabelValues(a, "fair"), poor: m.grades.WithLabelValues(a, "poor"),
	}
}

// observe counts one report of member q.
func (m *Metrics) observe(q *memberQ, r Report, l Level) {
	if m == nil {
		return
	}
	if q.met == nil || q.met.app != q.app || q.met.cand != candidateLabel(r.Local) {
		q.met = m.forMember(q.app, r.Local)
	}
	mm := q.met
	mm.reports.Inc()
	if r.Has&HasRTT != 0 {
		mm.rtt.Observe(r.RTT / 1000)
	}
	if r.Has&HasJitter != 0 {
		mm.jitter.Observe(r.Jit / 1000)
	}
	if r.Has&HasLoss != 0 {
		mm.loss.Observe(r.Loss / 100)
	}
	if r.Has&HasBitrateIn != 0 {
		mm.in.Observe(r.In * 1000)
	}
	if r.Has&HasBitrateOut != 0 {
		mm.out.Observe(r.Out * 1000)
	}
	switch l {
	case LevelGood:
		mm.good.Inc()
	case LevelFair:
		mm.fair.Inc()
	case LevelPoor:
		mm.poor.Inc()
	}
	if r.ICERestarts > q.prevRestarts {
		mm.restarts.Add(float64(r.ICERestarts - q.prevRestarts))
	}
	if r.Resumes > q.prevResumes {
		mm.resumes.Add(float64(r.Resumes - q.prevResumes))
	}
	if r.Has&HasSetup != 0 && !q.setupSeen {
		q.setupSeen = true
		m.setup.WithLabelValues(m.app(q.app), candidateLabel(r.Local)).Observe(float64(r.SetupMs) / 1000)
	}
}

// call counts an ended call.
func (m *Metrics) call(app string, c Candidate) {
	if m != nil {
		m.calls.WithLabelValues(m.app(app), candidateLabel(c)).Inc()
	}
}
