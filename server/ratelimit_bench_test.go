package server

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// handBucket is the token bucket duet had before golang.org/x/time/rate,
// kept here only to compare their cost per message.
type handBucket struct {
	tokens float64
	last   time.Time
}

func (b *handBucket) allow(now time.Time, r float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*r)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// BenchmarkRateLimit: the cost per message of each limiter, at duet's
// default rate (50/s, burst 200) with messages 1 ms apart.
func BenchmarkRateLimit(b *testing.B) {
	t0 := time.Now()
	b.Run("x/time/rate", func(b *testing.B) {
		l := rate.NewLimiter(50, 200)
		for i := range b.N {
			l.AllowN(t0.Add(time.Duration(i)*time.Millisecond), 1)
		}
	})
	b.Run("hand-written", func(b *testing.B) {
		var h handBucket
		for i := range b.N {
			h.allow(t0.Add(time.Duration(i)*time.Millisecond), 50, 200)
		}
	})
}
