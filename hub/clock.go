package hub

import "time"

// Clock gives held seats their deadlines and timers. Tests use a fake one
// (internal/testkit/fakeclock) so that a grace runs out without waiting.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d and returns a
	// function that cancels the call, reporting whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the system clock.
type RealClock struct{}

// Now implements Clock with time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc implements Clock with time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
