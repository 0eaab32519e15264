package admin

import (
	"log/slog"
	"sync"
	"time"
)

// refusalLog writes one line per refused request, at most burst lines at
// once and one a second after that: refusals are whatever an attacker
// sends, and each would otherwise be a log line. What it drops it counts,
// and the next line it writes says how many.
type refusalLog struct {
	log   *slog.Logger
	now   func() time.Time
	mu    sync.Mutex
	level float64 // lines that may be written now (a token bucket)
	last  time.Time
	quiet int // refusals not logged since the last line
}

const (
	refusalBurst = 5
	refusalRate  = 1.0 // lines a second
)

// refused logs one refused request, or counts it.
func (l *refusalLog) refused(method, path, remote, reason string) {
	l.mu.Lock()
	now := l.now()
	if l.last.IsZero() {
		l.level = refusalBurst
	} else {
		l.level = min(refusalBurst, l.level+now.Sub(l.last).Seconds()*refusalRate)
	}
	l.last = now
	if l.level < 1 {
		l.quiet++
		l.mu.Unlock()
		return
	}
	l.level--
	quiet := l.quiet
	l.quiet = 0
	l.mu.Unlock()
	// Never the credential itself.
	l.log.Warn("admin request refused", "method", method, "path", path, "remote", remote, "reason", reason, "not_logged_since", quiet)
}
