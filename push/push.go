// Package push implements Ant Media's push commands, with which a calling
// app rings a callee whose app is in the background:
// registerPushNotificationToken stores a device's FCM or APNs token under
// the subscriber id its auth token proves, and sendPushNotification
// delivers a JSON content to every device of the subscribers it names,
// through Firebase Cloud Messaging (HTTP v1, service-account OAuth) and
// Apple's APNs (HTTP/2, token-based .p8 authentication).
//
// It is off unless FCM or APNs credentials are configured. Registrations
// live in the memory of the node that took them; on a cluster a send asks
// every node for its registrations. Each sender has a rate limit, and
// every command, delivery and registration is counted and can go to the
// webhooks.
package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/workers"
	"github.com/duet-rtc/duet/protocol"
)

// IdentityChecker proves a subscriber id with a command's token
// (auth.Authorizer.CheckSubscriber).
type IdentityChecker interface {
	CheckSubscriber(token, app, subscriber string) error
}

// Events receives push events for webhooks (webhook.Sender.Queue).
type Events interface {
	Queue(kind, id string, payload any)
}

// Options configure a Service. Zero values get the defaults shown.
type Options struct {
	FCMCredentials string // a Google service-account key file ("": no FCM)
	FCMEndpoint    string // DefaultFCMEndpoint
	APNs           *APNsConfig
	// CAFile, when set, holds PEM certificates trusted for the services'
	// HTTPS besides the system's (a proxy's, a test server's).
	CAFile string
	// Identities, when set, must prove a command's subscriberId with its
	// token; without it the id is taken as given.
	Identities IdentityChecker
	Rate       float64 // sends per second one sender may make, sustained (0.2)
	Burst      int     // and at once (5)
	// MaxRegistrations bounds the devices this node keeps (100000).
	MaxRegistrations int
	Timeout          time.Duration // one request to FCM or APNs (10 s)
	// MaxRetryWait is the longest Retry-After honoured before a delivery
	// is retried; a service that asks for longer gets the failure
	// reported instead (10 s: a ring that late is no use).
	MaxRetryWait time.Duration
	Workers      int // sends delivered at once (8)
	Queue        int // sends waiting; past it a send is refused (1000)
	Gatherer     hub.Gatherer
	Events       Events
	Node         string
	Registerer   prometheus.Registerer
	Logger       *slog.Logger
	Client       *http.Client // nil: its own (HTTP/2, CAFile)
	Now          func() time.Time
}

// Service answers the push commands.
type Service struct {
	o     Options
	log   *slog.Logger
	fcm   *fcm
	apns  *apns
	store *store
	lim   *limiter
	m     *metrics

	mu     sync.Mutex
	closed bool
	jobs   chan job
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// Enabled reports whether o configures a service.
func (o Options) Enabled() bool { return o.FCMCredentials != "" || o.APNs != nil }

// New loads the credentials and starts the workers; Close stops them.
func New(o Options) (*Service, error) {
	if !o.Enabled() {
		return nil, errNotConfigured
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.Burst, 5)
	def(&o.MaxRegistrations, 100000)
	def(&o.Workers, 8)
	def(&o.Queue, 1000)
	if o.Rate <= 0 {
		o.Rate = 0.2
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := o.Client
	if hc == nil {
		var err error
		if hc, err = httpClient(o.CAFile, o.Timeout); err != nil {
			return nil, err
		}
	}
	s := &Service{o: o, log: log, store: newStore(o.MaxRegistrations), lim: newLimiter(o.Rate, o.Burst),
		jobs: make(chan job, o.Queue)}
	var err error
	if o.FCMCredentials != "" {
		if s.fcm, err = loadFCM(o.FCMCredentials, o.FCMEndpoint, hc, o.Now); err != nil {
			return nil, err
		}
	}
	if o.APNs != nil {
		if s.apns, err = loadAPNs(*o.APNs, hc, o.Now); err != nil {
			return nil, err
		}
	}
	if s.m, err = newMetrics(o.Registerer, s.store.len); err != nil {
		return nil, err
	}
	if g := o.Gatherer; g != nil {
		if err := g.Answer(topicLookup, s.answerLookup); err != nil {
			return nil, err
		}
		if err := g.Answer(topicForget, s.answerForget); err != nil {
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range o.Workers {
		s.wg.Add(1)
		go s.work()
	}
	return s, nil
}

// httpClient is the services' client: HTTP/2 (APNs takes nothing else),
// with the extra CAs of caFile.
func httpClient(caFile string, timeout time.Duration) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("push: %s holds no PEM certificate", caFile)
		}
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// Handle answers one push command from a socket of app: command is
// protocol.CmdRegisterPush or protocol.CmdSendPush, frame the message
// (read now: it may be reused once Handle returns), reply queues a frame
// for the socket (it may be called later, from another goroutine).
func (s *Service) Handle(app, command string, frame []byte, reply func([]byte)) {
	switch command {
	case protocol.CmdRegisterPush:
		reply(s.register(app, frame))
	case protocol.CmdSendPush:
		s.send(app, frame, reply)
	}
}

func (s *Service) register(app string, frame []byte) []byte {
	const cmd = protocol.CmdRegisterPush
	r, err := decodeRegister(frame)
	if err != nil {
		s.m.command(cmd, "invalid")
		return answer(false, string(defMissing), err.Error(), nil)
	}
	if r.Type == TypeFCM && s.fcm == nil || r.Type == TypeAPNs && s.apns == nil {
		s.m.command(cmd, "invalid")
		return answer(false, string(defMissing), r.Type+" is not configured on this server", nil)
	}
	if err := s.prove(r.Token, app, r.Subscriber); err != nil {
		s.m.command(cmd, "unauthorized")
		return answer(false, string(defTokenInvalid), "the token does not prove subscriberId", nil)
	}
	s.store.put(subKey{app, r.Subscriber}, Device{Type: r.Type, Token: r.Device, At: s.o.Now().UTC()})
	s.m.command(cmd, "ok")
	s.event("push_registered", app, func(b Base) any { return Registered{Base: b, Subscriber: r.Subscriber, Type: r.Type} })
	return answer(true, cmd, "registered", nil)
}

// prove checks a command's token for subscriber.
func (s *Service) prove(token, app, subscriber string) error {
	if s.o.Identities == nil {
		return nil
	}
	return s.o.Identities.CheckSubscriber(token, app, subscriber)
}

// job is a send waiting for a worker.
type job struct {
	app   string
	req   sendReq
	reply func([]byte)
}

func (s *Service) send(app string, frame []byte, reply func([]byte)) {
	const cmd = protocol.CmdSendPush
	r, err := decodeSend(frame)
	if err != nil {
		s.m.command(cmd, "invalid")
		reply(answer(false, string(defMissing), err.Error(), nil))
		return
	}
	if r.Topic != "" && s.fcm == nil {
		s.m.command(cmd, "invalid")
		reply(answer(false, string(defMissing), "topics need FCM, which is not configured on this server", nil))
		return
	}
	if err := s.prove(r.Token, app, r.Subscriber); err != nil {
		s.m.command(cmd, "unauthorized")
		reply(answer(false, string(defTokenInvalid), "the token does not prove subscriberId", nil))
		return
	}
	if !s.lim.allow(subKey{app, r.Subscriber}, s.o.Now()) {
		s.m.command(cmd, "rate_limited")
		reply(answer(false, string(defRateLimited), "too many push notifications from this subscriberId; try again later", nil))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.m.command(cmd, "busy")
		reply(answer(false, string(defBusy), "the server is stopping", nil))
		return
	}
	select {
	case s.jobs <- job{app: app, req: r, reply: reply}:
	default:
		s.m.command(cmd, "busy")
		reply(answer(false, string(defBusy), "too many push notifications waiting; try again later", nil))
	}
}

// Close stops taking sends, lets the workers finish what is queued until
// ctx ends, then abandons the rest.
func (s *Service) Close(ctx context.Context) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.jobs)
	}
	s.mu.Unlock()
	workers.Wait(ctx, &s.wg, s.cancel)
}

func (s *Service) work() {
	defer s.wg.Done()
	for j := range s.jobs {
		s.deliver(j)
	}
}

// Results of one device's delivery.
const (
	resultDelivered    = "delivered"
	resultInvalidToken = "invalid_token" // the service says the token is dead: the registration is removed
	resultRateLimited  = "rate_limited"  // the service asked to wait longer than MaxRetryWait
	resultFailed       = "failed"
)

// outcome is one attempt's result.
type outcome struct {
	result string
	err    error
	retry  bool          // worth another attempt
	after  time.Duration // the service's Retry-After
}

// withoutURL is a request's error without its URL, which for APNs holds
// the device token: errors go to logs and webhooks.
func withoutURL(service string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s request failed: %w", service, ue.Err)
	}
	return err
}

// retryAfter reads a Retry-After in seconds (0 when absent or a date).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// DeviceResult is one device's delivery in a push_sent event.
type DeviceResult struct {
	Subscriber string `json:"subscriberId"`
	Type       string `json:"pnsType"`
	Result     string `json:"result"`
	Error      string `json:"error,omitempty"`
}

// deliver runs one send: every device of every recipient (or the topic).
func (s *Service) deliver(j job) {
	const cmd = protocol.CmdSendPush
	var results []DeviceResult
	if j.req.Topic != "" {
		o := s.attempt(func(ctx context.Context) outcome { return s.fcm.send(ctx, "", j.req.Topic, j.req.Content) }, TypeFCM)
		results = append(results, DeviceResult{Subscriber: "topic:" + j.req.Topic, Type: TypeFCM, Result: o.result, Error: errText(o.err)})
	} else {
		devices := s.lookup(j.app, j.req.To)
		for _, id := range j.req.To {
			for _, d := range devices[id] {
				o := s.deliverOne(j.app, id, d, j.req.Content)
				results = append(results, DeviceResult{Subscriber: id, Type: d.Type, Result: o.result, Error: errText(o.err)})
			}
		}
	}
	var counts [2]int
	for _, r := range results {
		if r.Result == resultDelivered {
			counts[0]++
		} else {
			counts[1]++
		}
	}
	info := fmt.Sprintf("delivered to %d of %d devices", counts[0], len(results))
	for _, r := range results {
		if r.Result != resultDelivered {
			info += "; " + r.Subscriber + " (" + r.Type + "): " + r.Result
		}
	}
	// The event is queued (which never waits) before the sender hears the
	// answer: whoever acts on the answer finds the event already there.
	if results == nil {
		results = []DeviceResult{}
	}
	s.event("push_sent", j.app, func(b Base) any {
		return Sent{Base: b, Sender: j.req.Subscriber, Recipients: j.req.To, Topic: j.req.Topic,
			Delivered: counts[0], Failed: counts[1], Devices: results}
	})
	if counts[0] > 0 {
		s.m.command(cmd, "ok")
		j.reply(answer(true, cmd, info, &counts))
	} else {
		s.m.command(cmd, "failed")
		if len(results) == 0 {
			info = "no device is registered for subscriberIdsToNotify"
		}
		j.reply(answer(false, defNotDelivered, info, &counts))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// deliverOne delivers to one device, forgetting its registration when
// the service says the token is dead.
func (s *Service) deliverOne(app, subscriber string, d Device, content json.RawMessage) outcome {
	var o outcome
	switch {
	case d.Type == TypeFCM && s.fcm != nil:
		o = s.attempt(func(ctx context.Context) outcome { return s.fcm.send(ctx, d.Token, "", content) }, TypeFCM)
	case d.Type == TypeAPNs && s.apns != nil:
		o = s.attempt(func(ctx context.Context) outcome { return s.apns.send(ctx, d.Token, content) }, TypeAPNs)
	default:
		return outcome{result: resultFailed, err: errors.New(d.Type + " is not configured on this server")}
	}
	if o.result == resultInvalidToken {
		s.forget(app, subscriber, d.Token)
		s.log.Info("push token refused by its service: registration removed", "app", app, "subscriber", subscriber, "type", d.Type, "err", o.err)
	} else if o.err != nil {
		s.log.Warn("push delivery failed", "app", app, "subscriber", subscriber, "type", d.Type, "result", o.result, "err", o.err)
	}
	return o
}

// maxAttempts bounds the attempts of one delivery.
const maxAttempts = 3

// attempt runs send until it succeeds, fails for good, or a retry would
// wait longer than MaxRetryWait.
func (s *Service) attempt(send func(context.Context) outcome, service string) outcome {
	for n := 1; ; n++ {
		ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
		start := time.Now()
		o := send(ctx)
		cancel()
		s.m.attempt(service, time.Since(start))
		if !o.retry || n == maxAttempts {
			s.m.delivery(service, o.result)
			return o
		}
		wait := max(o.after, time.Duration(n)*250*time.Millisecond)
		if wait > s.o.MaxRetryWait {
			o.err = fmt.Errorf("%w (it asked to wait %s)", o.err, wait)
			s.m.delivery(service, o.result)
			return o
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			s.m.delivery(service, o.result)
			return o
		}
	}
}

// event queues a webhook event of app, made by body.
func (s *Service) event(kind, app string, body func(Base) any) {
	if s.o.Events == nil {
		return
	}
	b := Base{ID: newID(), Event: kind, Time: s.o.Now().UTC(), Node: s.o.Node, App: app}
	s.o.Events.Queue(kind, b.ID, body(b))
}
