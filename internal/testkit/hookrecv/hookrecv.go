// Package hookrecv is a webhook receiver for tests: it verifies each
// delivery's signature as a real receiver would and keeps the payloads.
package hookrecv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/webhook"
)

// Receiver keeps every verified payload once by event id (a retried
// delivery counts once), in arrival order, and counts the requests that
// failed verification.
type Receiver struct {
	secret []byte
	gate   chan struct{} // nil: answer at once

	mu    sync.Mutex
	seen  map[string]bool
	order []webhook.Payload
	bad   int
}

// New is a receiver for deliveries signed with secret.
func New(secret string) *Receiver {
	return &Receiver{secret: []byte(secret), seen: map[string]bool{}}
}

// Gated is a receiver that answers nothing until Open: the sender's
// workers stay busy, so the events behind them wait in its queue.
func Gated(secret string) *Receiver {
	r := New(secret)
	r.gate = make(chan struct{})
	return r
}

// Open lets a gated receiver answer (once).
func (h *Receiver) Open() { close(h.gate) }

// Serve runs the receiver on a loopback HTTP server for the test's
// lifetime and returns its URL.
func (h *Receiver) Serve(t testing.TB) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (h *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if h.gate != nil {
		select {
		case <-h.gate:
		case <-r.Context().Done():
			return
		}
	}
	err := webhook.Verify(h.secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), webhook.DefaultWindow)
	var p webhook.Payload
	if err == nil {
		err = json.Unmarshal(body, &p)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if !h.seen[p.ID] {
		h.seen[p.ID] = true
		h.order = append(h.order, p)
	}
}

// Payloads is every payload kept, in arrival order.
func (h *Receiver) Payloads() []webhook.Payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.Payload(nil), h.order...)
}

// Events is the payloads of one event kind, in arrival order.
func (h *Receiver) Events(kind string) []webhook.Payload {
	var out []webhook.Payload
	for _, p := range h.Payloads() {
		if p.Event == kind {
			out = append(out, p)
		}
	}
	return out
}

// Bad is how many requests failed verification.
func (h *Receiver) Bad() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bad
}
