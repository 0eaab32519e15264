package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/tcpproxy"
	"github.com/duet-rtc/duet/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("webhook-test-secret")

// received is one request a receiver accepted, after checking its
// signature the way the README tells receivers to.
type received struct {
	payload  webhook.Payload
	delivery string
	attempt  int
}

// receiver is a real HTTP endpoint that verifies every request with its
// own HMAC code (not the package's Verify) and answers as answer says.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	got      []received
	attempts map[string]int // per delivery id, including refused ones
	answer   func(n int, r *http.Request) int
	arrived  chan struct{}
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request) int) *receiver {
	rc := &receiver{t: t, attempts: map[string]int{}, answer: answer, arrived: make(chan struct{}, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-Duet-Timestamp")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "." + string(body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
		!hmac.Equal([]byte(r.Header.Get("X-Duet-Signature")), []byte(want)) || err != nil ||
		time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		rc.t.Errorf("request failed verification: %s %v sig %q want %q", r.Method, r.Header, r.Header.Get("X-Duet-Signature"), want)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("X-Duet-Delivery")
	rc.mu.Lock()
	rc.attempts[id]++
	n := rc.attempts[id]
	rc.mu.Unlock()
	code := http.StatusNoContent
	if rc.answer != nil {
		code = rc.answer(n, r)
	}
	if code >= 200 && code < 300 && r.Context().Err() == nil {
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			rc.t.Errorf("payload: %v", err)
		}
		attempt, _ := strconv.Atoi(r.Header.Get("X-Duet-Attempt"))
		if p.ID != id || p.Event != r.Header.Get("X-Duet-Event") || attempt < n {
			rc.t.Errorf("headers %v do not match payload %+v (attempt %d)", r.Header, p, n)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{p, id, attempt})
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
	}
	w.WriteHeader(code)
}

func (rc *receiver) wait(n int) []received {
	rc.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		rc.mu.Lock()
		got := append([]received(nil), rc.got...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-rc.arrived:
		case <-deadline:
			rc.t.Fatalf("got %d deliveries, want %d", len(got), n)
		}
	}
}

func start(t *testing.T, o webhook.Options) (*webhook.Sender, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Secret, o.Registerer = secret, reg
	if o.BackoffMin == 0 {
		o.BackoffMin, o.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
	}
	s, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s, reg
}

func count(t *testing.T, reg *prometheus.Registry, result string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "duet_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

func waitCount(t *testing.T, reg *prometheus.Registry, result string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for count(t, reg, result) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", result, count(t, reg, result), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	t0    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	alice = hub.Member{ID: "n1/1", Node: "n1", Remote: "203.0.113.5", JoinedAt: t0}
	bob   = hub.Member{ID: "n2/7", Node: "n2", Remote: "198.51.100.9", JoinedAt: t0.Add(time.Minute), Resumable: true}
	key   = hub.Key{App: "WebRTCAppEE", Stream: "room-1"}
)

func callEnded() hub.Event {
	return hub.Event{Kind: hub.CallEnded, Key: key, Time: t0.Add(3 * time.Minute), Node: "n2", Member: bob,
		Members: []hub.Member{alice, bob}, Reason: hub.ReasonKicked, CallStart: t0.Add(time.Minute)}
}

func TestDeliversSignedEvents(t *testing.T) {
	rc := newReceiver(t, nil)
	s, reg := start(t, webhook.Options{URLs: []string{rc.srv.URL}})
	s.RoomEvent(hub.Event{Kind: hub.PeerJoined, Key: key, Time: t0, Node: "n1", Member: alice})
	s.RoomEvent(callEnded())
	got := rc.wait(2)
	byEvent := map[string]webhook.Payload{}
	for _, g := range got {
		byEvent[g.payload.Event] = g.payload
	}
	j := byEvent["peer_joined"]
	if j.App != key.App || j.Room != key.Stream || j.Node != "n1" || j.Member.ID != "n1/1" || j.Member.Remote != alice.Remote ||
		!j.Time.Equal(t0) || j.Reason != "" || j.DurationMs != nil {
		t.Fatalf("peer_joined payload %+v", j)
	}
	e := byEvent["call_ended"]
	if e.Reason != "kicked" || e.DurationMs == nil || *e.DurationMs != 120000 || e.CallStartedAt == nil ||
		len(e.Members) != 2 || e.Members[1].ID != "n2/7" || !e.Members[1].Resumable || e.Member.ID != "n2/7" {
		t.Fatalf("call_ended payload %+v", e)
	}
	waitCount(t, reg, "delivered", 2)
	if n := count(t, reg, "retried") + count(t, reg, "failed") + count(t, reg, "dropped"); n != 0 {
		t.Fatalf("%d deliveries not plainly delivered", n)
	}
	if v := sum(t, reg, "duet_webhook_events_total"); v != 2 {
		t.Fatalf("events counted %v", v)
	}
}

// sum adds up every series of a counter family.
func sum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// A receiver answering 500 gets the same delivery again, with the same id
// and the attempt counted up, until it accepts.
func TestRetriesAfterServerErrors(t *testing.T) {
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n < 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	s, reg := start(t, webhook.Options{URLs: []string{rc.srv.URL}})
	s.RoomEvent(callEnded())
	got := rc.wait(1)
	if got[0].attempt != 3 {
		t.Fatalf("delivered on attempt %d, want 3", got[0].attempt)
	}
	waitCount(t, reg, "delivered", 1)
	if r := count(t, reg, "retried"); r != 2 {
		t.Fatalf("retried = %d, want 2", r)
	}
}

// A 4xx other than 408/429 is the receiver refusing the request for good:
// no retry.
func TestGivesUpOnClientErrors(t *testing.T) {
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusBadRequest })
	s, reg := start(t, webhook.Options{URLs: []string{rc.srv.URL}})
	s.RoomEvent(callEnded())
	waitCount(t, reg, "failed", 1)
	if r := count(t, reg, "retried"); r != 0 {
		t.Fatalf("retried = %d after a 400", r)
	}
}

// A receiver slower than the timeout has the attempt abandoned and
// retried; a retried receiver that keeps failing is given up after
// MaxAttempts.
func TestSlowReceiverIsRetried(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rc := newReceiver(t, func(n int, r *http.Request) int {
		if n == 1 {
			select { // hold the first attempt past the sender's timeout
			case <-r.Context().Done():
			case <-release:
			}
		}
		return http.StatusOK
	})
	s, reg := start(t, webhook.Options{URLs: []string{rc.srv.URL}, Timeout: 200 * time.Millisecond})
	s.RoomEvent(callEnded())
	got := rc.wait(1)
	if got[0].attempt != 2 {
		t.Fatalf("delivered on attempt %d, want 2", got[0].attempt)
	}
	waitCount(t, reg, "delivered", 1)
	if r := count(t, reg, "retried"); r != 1 {
		t.Fatalf("retried = %d, want 1", r)
	}
}

// A receiver that is down (connections refused) gets the event once it is
// back, within the retry budget; one that stays down past MaxAttempts has
// the delivery given up.
func TestReceiverDownThenUp(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	proxy := tcpproxy.Start(t, deadAddr)
	rc := newReceiver(t, nil)
	s, reg := start(t, webhook.Options{URLs: []string{"http://" + proxy.Addr() + "/hook"}, MaxAttempts: 50})
	s.RoomEvent(callEnded())
	waitCount(t, reg, "retried", 3)
	proxy.SetBackend(rc.srv.Listener.Addr().String())
	got := rc.wait(1)
	if got[0].attempt < 4 {
		t.Fatalf("delivered on attempt %d, want at least 4", got[0].attempt)
	}

	// Down for good: given up after MaxAttempts.
	s2, reg2 := start(t, webhook.Options{URLs: []string{"http://" + deadAddr + "/hook"}, MaxAttempts: 3})
	s2.RoomEvent(callEnded())
	waitCount(t, reg2, "failed", 1)
	if r := count(t, reg2, "retried"); r != 2 {
		t.Fatalf("retried = %d, want 2", r)
	}
}

// With the queue full, a new event pushes out the oldest waiting one: the
// newest survive, and the drops are counted.
func TestQueueDropsOldest(t *testing.T) {
	gate := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(gate) }) })
	rc := newReceiver(t, func(int, *http.Request) int {
		<-gate
		return http.StatusOK
	})
	s, reg := start(t, webhook.Options{URLs: []string{rc.srv.URL}, QueueSize: 3, Workers: 1})
	s.RoomEvent(hub.Event{Kind: hub.PeerJoined, Key: hub.Key{App: "a", Stream: "r0"}, Time: t0, Member: alice})
	// Wait until the worker holds the first at the receiver.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		n := len(rc.attempts)
		rc.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first delivery never reached the receiver")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 1; i <= 10; i++ {
		s.RoomEvent(hub.Event{Kind: hub.PeerJoined, Key: hub.Key{App: "a", Stream: "r" + strconv.Itoa(i)}, Time: t0, Member: alice})
	}
	if d := count(t, reg, "dropped"); d != 7 {
		t.Fatalf("dropped = %d, want 7", d)
	}
	once.Do(func() { close(gate) })
	got := rc.wait(4)
	var rooms []string
	for _, g := range got {
		rooms = append(rooms, g.payload.Room)
	}
	if want := "r0 r8 r9 r10"; strings.Join(rooms, " ") != want {
		t.Fatalf("delivered %v, want %s", rooms, want)
	}
}

// Close makes a last attempt at what waits for a retry, then stops.
func TestCloseFlushes(t *testing.T) {
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	reg := prometheus.NewRegistry()
	s, err := webhook.New(webhook.Options{URLs: []string{rc.srv.URL}, Secret: secret, Registerer: reg,
		BackoffMin: time.Hour, BackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.RoomEvent(callEnded())
	waitCount(t, reg, "retried", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx)
	if d := count(t, reg, "delivered"); d != 1 {
		t.Fatalf("delivered = %d after Close, want 1", d)
	}
	s.RoomEvent(callEnded()) // after Close: dropped, not queued
	if d := count(t, reg, "dropped"); d != 1 {
		t.Fatalf("dropped = %d, want 1", d)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"event":"peer_left"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := now.Unix()
	sig := webhook.Sign(secret, ts, body)
	tss := strconv.FormatInt(ts, 10)
	for _, c := range []struct {
		name     string
		ts, sig  string
		body     []byte
		at       time.Time
		want     error
		otherKey bool
	}{
		{"valid", tss, sig, body, now, nil, false},
		{"valid with a rotated secret next to it", tss, "v1=00," + sig, body, now, nil, false},
		{"body changed", tss, sig, []byte(`{"event":"peer_joined"}`), now, webhook.ErrBadSignature, false},
		{"timestamp changed", strconv.FormatInt(ts+1, 10), sig, body, now, webhook.ErrBadSignature, false},
		{"another secret", tss, sig, body, now, webhook.ErrBadSignature, true},
		{"replayed after the window", tss, sig, body, now.Add(6 * time.Minute), webhook.ErrStale, false},
		{"from the future", tss, sig, body, now.Add(-6 * time.Minute), webhook.ErrStale, false},
		{"no signature", tss, "", body, now, webhook.ErrNoSignature, false},
		{"no timestamp", "", sig, body, now, webhook.ErrNoSignature, false},
	} {
		key := secret
		if c.otherKey {
			key = []byte("another")
		}
		if err := webhook.Verify(key, c.ts, c.sig, c.body, c.at, webhook.DefaultWindow); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestDeduplicateOnSignedID backs what the README tells receivers (issue
// #20): the body's id is covered by the signature, X-Duet-Delivery is not.
// A request replayed within the window with another X-Duet-Delivery still
// verifies, so a receiver that deduplicated on the header would take it
// twice; one with another id in the body does not.
func TestDeduplicateOnSignedID(t *testing.T) {
	secret := []byte("0123456789abcdef")
	body := []byte(`{"id":"3f2a","event":"call_ended"}`)
	now := time.Now()
	sig := webhook.Sign(secret, now.Unix(), body)
	ts := strconv.FormatInt(now.Unix(), 10)
	// The header is not part of what is signed: changing it changes nothing.
	if err := webhook.Verify(secret, ts, sig, body, now, webhook.DefaultWindow); err != nil {
		t.Fatalf("a request with any X-Duet-Delivery: %v", err)
	}
	forged := bytes.Replace(body, []byte(`"3f2a"`), []byte(`"3f2b"`), 1)
	if err := webhook.Verify(secret, ts, sig, forged, now, webhook.DefaultWindow); !errors.Is(err, webhook.ErrBadSignature) {
		t.Fatalf("a body with another id: %v, want ErrBadSignature", err)
	}
}
