package admin_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/internal/testkit/fakeclock"
)

// lockedBuf is a log sink safe for the handler's goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// TestRefusalsLogRateLimited: each refused request used to write two log
// lines, as fast as anyone could send them (issue #20). Now a refusal is
// one line, at most five at once and one a second after that; the next
// line says how many went unlogged.
func TestRefusalsLogRateLimited(t *testing.T) {
	var out lockedBuf
	clock := new(fakeclock.Clock)
	api, err := admin.New(admin.Options{Key: key, Logger: slog.New(slog.NewTextHandler(&out, nil)), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	refuse := func(n int) {
		for range n {
			r := httptest.NewRequest("GET", "/v1/admin/rooms", nil)
			r.Header.Set("Authorization", "Bearer wrong-key")
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("refused request answered %d", w.Code)
			}
		}
	}
	refuse(100)
	if got := out.lines(); len(got) != 5 {
		t.Fatalf("100 refusals wrote %d lines, want 5:\n%s", len(got), strings.Join(got, "\n"))
	}
	clock.Advance(2 * time.Second)
	refuse(1)
	got := out.lines()
	if len(got) != 6 || !strings.Contains(got[5], "not_logged_since=95") || !strings.Contains(got[5], `reason="wrong key"`) {
		t.Fatalf("after 2 s: %d lines, last %q; want 6, counting the 95 unlogged", len(got), got[len(got)-1])
	}
	if strings.Contains(strings.Join(got, "\n"), "wrong-key") {
		t.Fatal("the credential was logged")
	}
}
