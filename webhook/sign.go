package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook request.
const (
	HeaderEvent     = "X-Duet-Event"     // the event's name, e.g. call_ended
	HeaderDelivery  = "X-Duet-Delivery"  // a copy of the event's id, the same on every attempt; unsigned: deduplicate on the body's id
	HeaderAttempt   = "X-Duet-Attempt"   // 1 for the first attempt
	HeaderTimestamp = "X-Duet-Timestamp" // Unix seconds when this attempt was signed
	HeaderSignature = "X-Duet-Signature" // "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body)
)

// DefaultWindow is the replay window receivers should allow: a request
// signed longer ago than this (or this far in the future) is refused.
const DefaultWindow = 5 * time.Minute

// Errors from Verify.
var (
	ErrNoSignature  = errors.New("webhook: missing or malformed signature or timestamp")
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the replay window")
)

// Sign returns the signature header value for body signed at ts.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request's timestamp and signature headers against body:
// the signature must match (compared in constant time) and the timestamp
// be within window of now. The signature header may hold several
// comma-separated values (while a secret is rotated); one must match.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || signature == "" {
		return ErrNoSignature
	}
	want := Sign(secret, ts, body)
	ok := false
	for _, s := range strings.Split(signature, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(s)), []byte(want)) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > window || d < -window {
		return ErrStale
	}
	return nil
}
