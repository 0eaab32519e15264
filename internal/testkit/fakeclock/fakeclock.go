// Package fakeclock is a manual clock for tests of timers (hub.Clock): time
// moves only when the test calls Advance, and due callbacks run then, in
// the order they fall due, on the caller's goroutine.
package fakeclock

import (
	"slices"
	"sync"
	"time"
)

// Clock is a manual clock. The zero value is ready at time zero.
type Clock struct {
	mu     sync.Mutex
	now    time.Duration
	seq    int
	timers []*timer
}

type timer struct {
	at  time.Duration
	seq int
	f   func()
}

// AfterFunc schedules f to run when the clock has advanced by d.
func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{at: c.now + d, seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, t)
		if i < 0 {
			return false
		}
		c.timers = slices.Delete(c.timers, i, i+1)
		return true
	}
}

// epoch is the time a Clock reads before it has been advanced.
var epoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Now is the clock's time: a fixed epoch plus how far it was advanced.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return epoch.Add(c.now)
}

// Advance moves the clock by d and runs every callback that falls due,
// earliest first (callbacks may schedule more).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now + d
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *timer
		for _, t := range c.timers {
			if t.at <= end && (next == nil || t.at < next.at || t.at == next.at && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool { return t == next })
		c.now = next.at
		c.mu.Unlock()
		next.f()
	}
}

// Pending is the number of callbacks scheduled and not yet run or stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
