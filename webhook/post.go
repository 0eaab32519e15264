package webhook

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// post makes one attempt of d. It reports whether a failure is worth a
// retry (network errors, timeouts, 408, 429 and 5xx; not other answers)
// and how long the receiver asked to wait (Retry-After).
func (s *Sender) post(d *delivery) (retry bool, after time.Duration, err error) {
	body := d.ev.encode()
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return false, 0, err // a URL that cannot be requested will never work
	}
	ts := s.o.Now().Unix()
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "duet-webhook/1")
	h.Set(HeaderEvent, d.ev.kind)
	h.Set(HeaderDelivery, d.ev.id)
	h.Set(HeaderAttempt, strconv.Itoa(d.attempt))
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(s.o.Secret, ts, body))
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return true, 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, 0, nil
	case c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500:
		return true, retryAfter(resp.Header.Get("Retry-After"), s.o.BackoffMax), errStatus(c)
	default:
		return false, 0, errStatus(c)
	}
}

// retryAfter reads a Retry-After in seconds, at most limit.
func retryAfter(v string, limit time.Duration) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, limit)
}
