package push

import (
	"sync"
	"time"
)

// limiter is a token bucket per sender.
type limiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[subKey]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets is how many senders' buckets are kept before full ones (of
// senders quiet long enough to have refilled) are forgotten.
const maxBuckets = 100000

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: map[subKey]*bucket{}}
}

func (l *limiter) allow(k subKey, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[k] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweepLocked forgets the buckets that have refilled: their senders are
// as if new.
func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
