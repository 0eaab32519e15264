package push

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Apple Push Notification service, HTTP/2 provider API with token-based
// authentication: a notification is a POST to {endpoint}/3/device/{token}
// over HTTP/2, authorised by a JWT (ES256) that names the key (kid) and
// the team (iss), signed with the key's .p8 file. Apple wants the same
// token reused for up to an hour and refreshed no more than once every
// 20 minutes.

// Endpoints of APNs.
const (
	DefaultAPNsEndpoint = "https://api.push.apple.com"
	SandboxAPNsEndpoint = "https://api.sandbox.push.apple.com"
)

// apnsTokenAge is how long a provider token is used.
const apnsTokenAge = 50 * time.Minute

// APNsConfig configures APNs.
type APNsConfig struct {
	KeyFile  string // the .p8 file of the key
	KeyID    string // its key id (10 characters)
	TeamID   string // the team that owns it
	Topic    string // the app's bundle id (with .voip for VoIP pushes)
	PushType string // alert (default) or voip
	Endpoint string // DefaultAPNsEndpoint when empty
}

type apns struct {
	c   APNsConfig
	key *ecdsa.PrivateKey
	hc  *http.Client
	now func() time.Time

	mu     sync.Mutex
	token  string
	issued time.Time
}

func loadAPNs(c APNsConfig, hc *http.Client, now func() time.Time) (*apns, error) {
	b, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("push: %s is not a PEM .p8 key", c.KeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("push: %s: %w", c.KeyFile, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("push: %s is not an EC key", c.KeyFile)
	}
	if c.KeyID == "" || c.TeamID == "" || c.Topic == "" {
		return nil, errors.New("push: APNs needs its key id, team id and topic (the app's bundle id)")
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultAPNsEndpoint
	}
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	if c.PushType == "" {
		c.PushType = "alert"
	}
	return &apns{c: c, key: key, hc: hc, now: now}, nil
}

// providerToken returns the JWT to authorise with; stale asks for a new
// one (APNs answered ExpiredProviderToken).
func (a *apns) providerToken(stale bool) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.token != "" && !stale && now.Sub(a.issued) < apnsTokenAge {
		return a.token, nil
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": a.c.TeamID, "iat": now.Unix()})
	t.Header["kid"] = a.c.KeyID
	s, err := t.SignedString(a.key)
	if err != nil {
		return "", err
	}
	a.token, a.issued = s, now
	return s, nil
}

// apnsBody is content as an APNs payload. Content with an aps dictionary
// goes as it is. Otherwise an alert push gets an alert from the
// content's title and body (a call's notification when there is
// neither), and a VoIP push an empty aps: PushKit hands the whole
// payload to the app.
func apnsBody(content json.RawMessage, pushType string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(content, &fields); err != nil {
		return nil, err
	}
	if _, ok := fields["aps"]; ok {
		return content, nil
	}
	aps := map[string]any{}
	if pushType == "alert" {
		alert := map[string]string{}
		for _, k := range []string{"title", "body"} {
			var s string
			if json.Unmarshal(fields[k], &s) == nil && s != "" {
				alert[k] = s
			}
		}
		if len(alert) == 0 {
			alert["title"] = "Incoming call"
		}
		aps["alert"], aps["sound"] = alert, "default"
	}
	b, err := json.Marshal(aps)
	if err != nil {
		return nil, err
	}
	fields["aps"] = b
	return json.Marshal(fields)
}

// send makes one attempt to deliver content to an APNs device.
func (a *apns) send(ctx context.Context, token string, content json.RawMessage) outcome {
	body, err := apnsBody(content, a.c.PushType)
	if err != nil {
		return outcome{result: resultFailed, err: err}
	}
	for try := 0; ; try++ {
		jwtTok, err := a.providerToken(try > 0)
		if err != nil {
			return outcome{result: resultFailed, err: err}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.c.Endpoint+"/3/device/"+token, bytes.NewReader(body))
		if err != nil {
			return outcome{result: resultFailed, err: err}
		}
		h := req.Header
		h.Set("authorization", "bearer "+jwtTok)
		h.Set("apns-topic", a.c.Topic)
		h.Set("apns-push-type", a.c.PushType)
		h.Set("apns-priority", "10")
		// A ring is worth nothing a minute later.
		h.Set("apns-expiration", strconv.FormatInt(a.now().Add(time.Minute).Unix(), 10))
		h.Set("content-type", "application/json")
		resp, err := a.hc.Do(req)
		if err != nil {
			return outcome{result: resultFailed, err: withoutURL("APNs", err), retry: true}
		}
		rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			return outcome{result: resultFailed, err: fmt.Errorf("APNs answered over HTTP/%d.%d, not HTTP/2", resp.ProtoMajor, resp.ProtoMinor)}
		}
		var e struct {
			Reason string `json:"reason"`
		}
		json.Unmarshal(rb, &e)
		if resp.StatusCode == http.StatusForbidden && e.Reason == "ExpiredProviderToken" && try == 0 {
			continue
		}
		return apnsOutcome(resp, e.Reason)
	}
}

// apnsOutcome reads APNs's answer: BadDeviceToken (400), Unregistered
// (410) and DeviceTokenNotForTopic are tokens that will never work;
// TooManyRequests (429) and server errors ask for a retry.
func apnsOutcome(resp *http.Response, reason string) outcome {
	if resp.StatusCode == http.StatusOK {
		return outcome{result: resultDelivered}
	}
	err := fmt.Errorf("APNs answered %d %s", resp.StatusCode, reason)
	switch {
	case resp.StatusCode == http.StatusGone || reason == "BadDeviceToken" || reason == "Unregistered" || reason == "DeviceTokenNotForTopic":
		return outcome{result: resultInvalidToken, err: err}
	case resp.StatusCode == http.StatusTooManyRequests:
		return outcome{result: resultRateLimited, err: err, retry: true, after: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode >= 500:
		return outcome{result: resultFailed, err: err, retry: true, after: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return outcome{result: resultFailed, err: err}
}
