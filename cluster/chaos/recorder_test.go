package chaos_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder collects what the peers saw: violations of the invariants,
// notices and counts.
type recorder struct {
	mu         sync.Mutex
	violations []string
	counts     map[string]int
}

func newRecorder() *recorder { return &recorder{counts: map[string]int{}} }

func (r *recorder) violation(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

func (r *recorder) notice(kind string) { r.count("notice:" + kind) }

func (r *recorder) count(what string) {
	r.mu.Lock()
	r.counts[what]++
	r.mu.Unlock()
}

func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(r.counts)) {
		fmt.Fprintf(&b, "%s=%d ", k, r.counts[k])
	}
	return b.String()
}

// report fails the test with the violations, at most 30 of them.
func (r *recorder) report(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, v := range r.violations {
		if i == 30 {
			t.Errorf("... and %d more", len(r.violations)-30)
			break
		}
		t.Error(v)
	}
}
