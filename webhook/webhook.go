// Package webhook sends duet's room events (peer_joined, call_started,
// call_ended, peer_left) to HTTP endpoints: a JSON POST per event and URL,
// signed with HMAC-SHA256 over the timestamp and the body, retried with
// exponential backoff and jitter, from a bounded in-memory queue that
// drops its oldest delivery when full.
//
// Delivery is at least once per event while the node runs (a receiver that
// got a request whose answer was lost gets it again: deduplicate by the
// event id in the signed body, not by a header); events still queued when
// the node stops after its drain, or dies, are lost.
package webhook

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/hub"
)

// Options configure a Sender. Zero values get the defaults shown.
type Options struct {
	URLs   []string // endpoints; each event goes to every one
	Secret []byte   // HMAC key; required
	// QueueSize bounds the deliveries waiting (10000); when a new one does
	// not fit, the oldest is dropped.
	QueueSize int
	// Timeout bounds one attempt (5 s). A receiver should answer at once
	// and do its work afterwards.
	Timeout time.Duration
	// MaxAttempts per delivery (12). BackoffMin (1 s) doubles per failed
	// attempt up to BackoffMax (60 s), with jitter: the wait is between
	// half and all of it. With the defaults a delivery is given up after
	// 3 to 6 minutes of waiting (1+2+4+…+32+5×60 s = 363 s, jittered)
	// plus the attempts themselves.
	MaxAttempts            int
	BackoffMin, BackoffMax time.Duration
	Workers                int // concurrent attempts (4)
	Registerer             prometheus.Registerer
	Logger                 *slog.Logger
	Client                 *http.Client     // nil: its own, following no redirects
	Now                    func() time.Time // the clock (time.Now)
}

// ErrNoSecret is returned by New without Options.Secret.
var ErrNoSecret = errors.New("webhook: a secret is required to sign requests")

// Sender queues room events and delivers them. It implements hub.Observer.
type Sender struct {
	o   Options
	log *slog.Logger
	m   *metrics

	mu      sync.Mutex
	q       queue
	seq     uint64
	closing bool
	wake    chan struct{}
	// unlogged counts deliveries RoomEvent dropped that no warning has
	// reported yet: RoomEvent runs under a room backend's lock, where
	// nothing logs; a worker reports them.
	unlogged atomic.Int64

	ctx    context.Context // cancelled when Close gives up
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ hub.Observer = (*Sender)(nil)

// New starts a Sender's workers; Close stops them.
func New(o Options) (*Sender, error) {
	if len(o.Secret) == 0 {
		return nil, ErrNoSecret
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.QueueSize, 10000)
	def(&o.MaxAttempts, 12)
	def(&o.Workers, 4)
	defD(&o.Timeout, 5*time.Second)
	defD(&o.BackoffMin, time.Second)
	defD(&o.BackoffMax, time.Minute)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Sender{o: o, log: log, m: m, wake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	m.queued = func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(s.q.len())
	}
	for range o.Workers {
		s.wg.Add(1)
		go s.work()
	}
	return s, nil
}

// RoomEvent implements hub.Observer: it queues one delivery per URL and
// returns at once. It logs nothing (it runs under a room's lock): a worker
// reports the deliveries a full queue dropped.
func (s *Sender) RoomEvent(ev hub.Event) {
	id := NewID()
	s.queue(&event{id: id, kind: ev.Kind.String(), payload: func() any { return PayloadOf(id, ev) }})
}

// Queue queues an event whose body is payload's JSON (its id field
// should be id) to every URL, and returns at once. kind names it in the
// X-Duet-Event header and the metrics. It is how events other than bare
// room transitions go out: a call_ended with its quality, push results.
func (s *Sender) Queue(kind, id string, payload any) {
	s.queue(&event{id: id, kind: kind, payload: func() any { return payload }})
}

func (s *Sender) queue(e *event) {
	s.m.events.WithLabelValues(e.kind).Inc()
	now := s.o.Now()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.m.result("dropped").Add(float64(len(s.o.URLs)))
		return
	}
	dropped := 0
	for _, u := range s.o.URLs {
		dropped += s.pushLocked(&delivery{ev: e, url: u, due: now})
	}
	s.mu.Unlock()
	if dropped > 0 {
		s.m.result("dropped").Add(float64(dropped))
		s.unlogged.Add(int64(dropped))
	}
	s.poke()
}

// reportDropped logs the deliveries a full queue dropped since the last
// report.
func (s *Sender) reportDropped() {
	if n := s.unlogged.Swap(0); n > 0 {
		s.log.Warn("webhook queue full: dropped the oldest deliveries", "dropped", n, "queue_size", s.o.QueueSize)
	}
}

// pushLocked queues d, dropping the oldest delivery when the queue is
// full; it returns how many it dropped. The caller holds s.mu.
func (s *Sender) pushLocked(d *delivery) int {
	if d.seq == 0 {
		s.seq++
		d.seq = s.seq
	}
	dropped := 0
	for s.q.len() >= s.o.QueueSize {
		s.q.dropOldest()
		dropped++
	}
	s.q.push(d)
	return dropped
}

func (s *Sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// work runs attempts as they fall due until the Sender is closed and its
// queue empty.
func (s *Sender) work() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.reportDropped()
		s.mu.Lock()
		d, next := s.q.next(s.o.Now(), s.closing)
		closing, empty := s.closing, s.q.len() == 0
		s.mu.Unlock()
		if s.ctx.Err() != nil {
			if d != nil { // abandoned: Close counts what is left
				s.mu.Lock()
				s.q.push(d)
				s.mu.Unlock()
			}
			return
		}
		if d != nil {
			if !empty {
				s.poke() // another may be due: let a sleeping worker look
			}
			s.attempt(d)
			continue
		}
		if closing && empty {
			s.poke() // pass the news on to the next worker
			return
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(s.o.Now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-s.wake:
		case <-timer.C:
		case <-s.ctx.Done():
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// attempt sends d once and queues it again, or gives it up.
func (s *Sender) attempt(d *delivery) {
	d.attempt++
	start := time.Now()
	retry, after, err := s.post(d)
	s.m.duration.Observe(time.Since(start).Seconds())
	if err == nil {
		s.m.result("delivered").Inc()
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if !retry || d.attempt >= s.o.MaxAttempts || closing {
		s.m.result("failed").Inc()
		s.log.Warn("webhook delivery failed; giving it up", "url", d.url, "event", d.ev.kind,
			"id", d.ev.id, "attempts", d.attempt, "err", err)
		return
	}
	s.m.result("retried").Inc()
	s.log.Debug("webhook attempt failed; will retry", "url", d.url, "id", d.ev.id, "attempt", d.attempt, "err", err)
	d.due = s.o.Now().Add(max(s.backoff(d.attempt), after))
	s.mu.Lock()
	dropped := s.pushLocked(d)
	s.mu.Unlock()
	s.poke()
	if dropped > 0 {
		s.m.result("dropped").Add(float64(dropped))
	}
}

// backoff is the wait after the n-th failed attempt: BackoffMin doubled
// n-1 times, at most BackoffMax, then between half of it and all of it.
func (s *Sender) backoff(n int) time.Duration {
	d := s.o.BackoffMin
	for i := 1; i < n && d < s.o.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.o.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// errStatus is a receiver's answer other than 2xx.
type errStatus int

func (e errStatus) Error() string { return "receiver answered " + strconv.Itoa(int(e)) }

// Close stops taking events, makes one last attempt at everything queued
// (no more retries) until ctx ends, then abandons the rest, counting it as
// dropped, and waits for the workers.
func (s *Sender) Close(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.poke()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
	}
	s.cancel()
	s.reportDropped()
	s.mu.Lock()
	left := s.q.len()
	s.q = queue{}
	s.mu.Unlock()
	if left > 0 {
		s.m.result("dropped").Add(float64(left))
		s.log.Warn("webhook deliveries abandoned at shutdown", "count", left)
	}
}
