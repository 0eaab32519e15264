package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/duet-rtc/duet/internal/testkit/fakepush"
	"github.com/duet-rtc/duet/push"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Device tokens as the services hand them out.
const (
	fcmDevice  = "fGw4Nq3XQ0e:APA91bH-test_token-1"
	fcmDevice2 = "dXk2Zp9AB1c:APA91bH-test_token-2"
	apnDevice  = "6b3a1c0e9d8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b"
)

// rig is a Service wired to fake FCM and APNs servers.
type rig struct {
	svc    *push.Service
	fcm    *fakepush.FCM
	apns   *fakepush.APNs
	events *eventLog
	reg    *prometheus.Registry
}

type eventLog struct {
	mu     sync.Mutex
	events []any
}

func (l *eventLog) Queue(kind, id string, payload any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, payload)
}

func (l *eventLog) all() []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]any(nil), l.events...)
}

// ids proves a subscriber id by a token equal to "token-" + the id.
type ids struct{}

var errNotYou = errors.New("not you")

func (ids) CheckSubscriber(token, app, subscriber string) error {
	if token != "token-"+subscriber {
		return errNotYou
	}
	return nil
}

func newRig(t *testing.T, mutate func(*push.Options)) *rig {
	t.Helper()
	r := &rig{fcm: fakepush.NewFCM(t), apns: fakepush.NewAPNs(t), events: &eventLog{}, reg: prometheus.NewRegistry()}
	o := push.Options{
		FCMCredentials: r.fcm.Credentials, FCMEndpoint: r.fcm.Server.URL,
		APNs: &push.APNsConfig{KeyFile: r.apns.KeyFile, KeyID: r.apns.KeyID, TeamID: r.apns.TeamID, Topic: r.apns.Topic,
			Endpoint: r.apns.Server.URL},
		CAFile:     fakepush.CAFile(t, r.fcm.Server),
		Identities: ids{}, Events: r.events, Registerer: r.reg, Node: "n1", Rate: 100, Burst: 100,
	}
	if mutate != nil {
		mutate(&o)
	}
	svc, err := push.New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		svc.Close(ctx)
	})
	return r
}

// answer is a command's notification.
type answer struct {
	Command     string `json:"command"`
	Success     bool   `json:"success"`
	Definition  string `json:"definition"`
	Information string `json:"information"`
	Delivered   int    `json:"delivered"`
	Failed      int    `json:"failed"`
}

// do runs one command as a socket of app "app" would, and waits for its
// answer.
func (r *rig) do(t *testing.T, cmd string, msg map[string]any) answer {
	t.Helper()
	msg["command"] = cmd
	b, _ := json.Marshal(msg)
	ch := make(chan []byte, 1)
	r.svc.Handle("app", cmd, b, func(f []byte) { ch <- f })
	select {
	case f := <-ch:
		var a answer
		if err := json.Unmarshal(f, &a); err != nil || a.Command != "notification" {
			t.Fatalf("answer %s: %v", f, err)
		}
		return a
	case <-time.After(15 * time.Second):
		t.Fatalf("no answer to %s", cmd)
	}
	return answer{}
}

func (r *rig) register(t *testing.T, who, typ, device string) {
	t.Helper()
	a := r.do(t, "registerPushNotificationToken", map[string]any{"subscriberId": who, "token": "token-" + who,
		"pnsRegistrationToken": device, "pnsType": typ})
	if !a.Success || a.Definition != "registerPushNotificationToken" {
		t.Fatalf("register %s: %+v", who, a)
	}
}

func (r *rig) ring(t *testing.T, from string, to ...string) answer {
	t.Helper()
	return r.do(t, "sendPushNotification", map[string]any{"subscriberId": from, "token": "token-" + from,
		"pushNotificationContent": map[string]any{"Caller": from, "StreamId": "room-7", "n": 3},
		"subscriberIdsToNotify":   to})
}

func TestPushDeliversThroughBothServices(t *testing.T) {
	r := newRig(t, nil)
	r.register(t, "bob", "fcm", fcmDevice)
	r.register(t, "bob", "apn", apnDevice)
	r.register(t, "carol", "fcm", fcmDevice2)
	a := r.ring(t, "alice", "bob", "carol")
	if !a.Success || a.Definition != "sendPushNotification" || a.Delivered != 3 || a.Failed != 0 {
		t.Fatalf("answer = %+v", a)
	}
	msgs := r.fcm.Messages()
	if len(msgs) != 2 {
		t.Fatalf("FCM got %d messages, want 2 (bad: %v)", len(msgs), r.fcm.Bad())
	}
	for _, m := range msgs {
		if m.Token != fcmDevice && m.Token != fcmDevice2 || m.Android.Priority != "high" ||
			m.Data["Caller"] != "alice" || m.Data["StreamId"] != "room-7" || m.Data["n"] != "3" || len(m.Data) != 3 {
			t.Fatalf("FCM message = %+v", m)
		}
	}
	pushes := r.apns.Pushes()
	if len(pushes) != 1 {
		t.Fatalf("APNs got %d pushes, want 1 (bad: %v)", len(pushes), r.apns.Bad())
	}
	p := pushes[0]
	aps, _ := p.Payload["aps"].(map[string]any)
	if p.Device != apnDevice || p.PushType != "alert" || p.Priority != "10" || p.Payload["Caller"] != "alice" || aps["alert"] == nil {
		t.Fatalf("APNs push = %+v", p)
	}
	// The credentials are reused: one access token, one provider token.
	r.ring(t, "alice", "bob")
	if n := r.fcm.TokenRequests(); n != 1 {
		t.Fatalf("%d access tokens issued, want 1", n)
	}
	if n := r.apns.ProviderTokens(); n != 1 {
		t.Fatalf("%d provider tokens, want 1", n)
	}
	if bad := append(r.fcm.Bad(), r.apns.Bad()...); len(bad) > 0 {
		t.Fatalf("refused requests: %v", bad)
	}
	evs := r.events.all()
	if len(evs) != 5 { // three registrations, two sends
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	sent, ok := evs[3].(push.Sent)
	if !ok || sent.Event != "push_sent" || sent.Sender != "alice" || sent.Delivered != 3 || len(sent.Devices) != 3 || sent.App != "app" {
		t.Fatalf("push_sent = %+v", evs[3])
	}
	if b, _ := json.Marshal(evs); strings.Contains(string(b), fcmDevice) || strings.Contains(string(b), apnDevice) {
		t.Fatalf("a device token in the events: %s", b)
	}
}

func TestPushRefusesAnUnprovenSender(t *testing.T) {
	r := newRig(t, nil)
	r.register(t, "bob", "fcm", fcmDevice)
	a := r.do(t, "sendPushNotification", map[string]any{"subscriberId": "alice", "token": "token-mallory",
		"pushNotificationContent": map[string]any{"x": "y"}, "subscriberIdsToNotify": []string{"bob"}})
	if a.Success || a.Definition != "authenticationTokenNotValid" {
		t.Fatalf("answer = %+v", a)
	}
	// Nor may anyone register a device for someone else.
	a = r.do(t, "registerPushNotificationToken", map[string]any{"subscriberId": "bob", "token": "token-mallory",
		"pnsRegistrationToken": fcmDevice2, "pnsType": "fcm"})
	if a.Success || a.Definition != "authenticationTokenNotValid" {
		t.Fatalf("answer = %+v", a)
	}
	r.ring(t, "alice", "bob")
	if msgs := r.fcm.Messages(); len(msgs) != 1 || msgs[0].Token != fcmDevice {
		t.Fatalf("FCM messages = %+v", msgs)
	}
}

func TestPushInvalidTokensAreForgotten(t *testing.T) {
	r := newRig(t, nil)
	r.register(t, "bob", "fcm", fcmDevice)
	r.register(t, "bob", "apn", apnDevice)
	r.fcm.Script(fcmDevice, fakepush.Answer{Status: 404, Body: fakepush.FCMError(404, "UNREGISTERED")})
	r.apns.Script(apnDevice, fakepush.Answer{Status: 410, Body: `{"reason":"Unregistered","timestamp":1700000000000}`})
	a := r.ring(t, "alice", "bob")
	if a.Success || a.Definition != "pushNotificationNotDelivered" || a.Failed != 2 || !strings.Contains(a.Information, "invalid_token") {
		t.Fatalf("answer = %+v", a)
	}
	// Both registrations are gone.
	a = r.ring(t, "alice", "bob")
	if a.Success || a.Failed != 0 || !strings.Contains(a.Information, "no device is registered") {
		t.Fatalf("answer after = %+v", a)
	}
	if n := counter(t, r.reg, "duet_push_deliveries_total", "invalid_token"); n != 2 {
		t.Fatalf("invalid_token deliveries = %v", n)
	}
}

func TestPushHonoursRetryAfter(t *testing.T) {
	r := newRig(t, func(o *push.Options) { o.MaxRetryWait = 5 * time.Second })
	r.register(t, "bob", "fcm", fcmDevice)
	r.register(t, "carol", "fcm", fcmDevice2)
	quota := fakepush.FCMError(429, "QUOTA_EXCEEDED")
	// bob's device: one 429 asking for a second, then accepted.
	r.fcm.Script(fcmDevice, fakepush.Answer{Status: 429, Body: quota, RetryAfter: 1}, fakepush.Answer{Status: 200})
	// carol's: a 429 asking for two minutes, more than a ring is worth.
	r.fcm.Script(fcmDevice2, fakepush.Answer{Status: 429, Body: quota, RetryAfter: 120})
	start := time.Now()
	a := r.ring(t, "alice", "bob", "carol")
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the retry came after %v, before the Retry-After", took)
	}
	if !a.Success || a.Delivered != 1 || a.Failed != 1 || !strings.Contains(a.Information, "carol (fcm): rate_limited") {
		t.Fatalf("answer = %+v", a)
	}
	if msgs := r.fcm.Messages(); len(msgs) != 1 || msgs[0].Token != fcmDevice {
		t.Fatalf("FCM messages = %+v", msgs)
	}
	if n := counter(t, r.reg, "duet_push_deliveries_total", "rate_limited"); n != 1 {
		t.Fatalf("rate_limited deliveries = %v", n)
	}
}

func TestPushSenderRateLimit(t *testing.T) {
	r := newRig(t, func(o *push.Options) { o.Rate, o.Burst = 0.01, 2 })
	r.register(t, "bob", "fcm", fcmDevice)
	for i := range 2 {
		if a := r.ring(t, "alice", "bob"); !a.Success {
			t.Fatalf("send %d: %+v", i, a)
		}
	}
	if a := r.ring(t, "alice", "bob"); a.Success || a.Definition != "rateLimited" {
		t.Fatalf("third send = %+v", a)
	}
	// Another sender has its own bucket.
	if a := r.ring(t, "carol", "bob"); !a.Success {
		t.Fatalf("another sender = %+v", a)
	}
}

func TestPushTopicAndBadRequests(t *testing.T) {
	r := newRig(t, nil)
	a := r.do(t, "sendPushNotification", map[string]any{"subscriberId": "alice", "token": "token-alice",
		"pushNotificationContent": map[string]any{"title": "hi"}, "topic": "news"})
	if !a.Success {
		t.Fatalf("topic send = %+v", a)
	}
	if msgs := r.fcm.Messages(); len(msgs) != 1 || msgs[0].Topic != "news" {
		t.Fatalf("FCM messages = %+v", msgs)
	}
	for _, bad := range []map[string]any{
		{"subscriberId": "alice", "token": "token-alice", "pushNotificationContent": "not an object", "subscriberIdsToNotify": []string{"bob"}},
		{"subscriberId": "alice", "token": "token-alice", "pushNotificationContent": map[string]any{}, "subscriberIdsToNotify": "bob"},
		{"subscriberId": "alice", "token": "token-alice", "pushNotificationContent": map[string]any{}},
		{"token": "token-", "pushNotificationContent": map[string]any{}, "subscriberIdsToNotify": []string{"bob"}},
		{"subscriberId": "alice", "token": "token-alice", "pushNotificationContent": map[string]any{"pad": strings.Repeat("x", 5000)}, "subscriberIdsToNotify": []string{"bob"}},
	} {
		if a := r.do(t, "sendPushNotification", bad); a.Success || a.Definition != "missingParameter" {
			t.Errorf("send %v = %+v", bad, a)
		}
	}
	for _, bad := range []map[string]any{
		{"subscriberId": "bob", "token": "token-bob", "pnsRegistrationToken": "../../etc", "pnsType": "apn"},
		{"subscriberId": "bob", "token": "token-bob", "pnsRegistrationToken": fcmDevice, "pnsType": "gcm"},
		{"subscriberId": "bob", "token": "token-bob", "pnsType": "fcm"},
	} {
		if a := r.do(t, "registerPushNotificationToken", bad); a.Success || a.Definition != "missingParameter" {
			t.Errorf("register %v = %+v", bad, a)
		}
	}
}

// counter is the value of a counter of reg with a label of value v.
func counter(t *testing.T, reg *prometheus.Registry, name, v string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == v {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// TestPushErrorsNameNoDevice: a service that cannot be reached is a
// failure whose text (for logs and webhooks) holds no device token,
// though APNs puts it in the URL.
func TestPushErrorsNameNoDevice(t *testing.T) {
	r := newRig(t, nil)
	r.register(t, "bob", "apn", apnDevice)
	r.apns.Server.Close()
	a := r.ring(t, "alice", "bob")
	if a.Success || a.Failed != 1 || strings.Contains(a.Information, apnDevice) {
		t.Fatalf("answer = %+v", a)
	}
	for _, e := range r.events.all() {
		if s, ok := e.(push.Sent); ok {
			if b, _ := json.Marshal(s); strings.Contains(string(b), apnDevice) || s.Devices[0].Error == "" {
				t.Fatalf("push_sent = %s", b)
			}
		}
	}
}
