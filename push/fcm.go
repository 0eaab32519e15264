package push

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Firebase Cloud Messaging, HTTP v1 API: a message is a POST to
// {endpoint}/v1/projects/{project}/messages:send with an OAuth 2.0 access
// token that the service account gets for itself: a JWT it signs (RS256)
// is exchanged at the account's token_uri (RFC 7523, the jwt-bearer
// grant).

// fcmScope is the OAuth scope of FCM's send API.
const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// DefaultFCMEndpoint is FCM's API.
const DefaultFCMEndpoint = "https://fcm.googleapis.com"

// serviceAccount is the part of a Google service-account key file FCM
// needs.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// fcm sends messages through FCM.
type fcm struct {
	endpoint string
	acct     serviceAccount
	key      *rsa.PrivateKey
	hc       *http.Client
	now      func() time.Time

	mu      sync.Mutex
	access  string
	expires time.Time
}

// loadFCM reads a service-account key file.
func loadFCM(file, endpoint string, hc *http.Client, now func() time.Time) (*fcm, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var a serviceAccount
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("push: %s: %w", file, err)
	}
	if a.Type != "service_account" || a.ProjectID == "" || a.ClientEmail == "" || a.TokenURI == "" {
		return nil, fmt.Errorf("push: %s is not a service-account key (type, project_id, client_email, token_uri)", file)
	}
	if u, err := url.Parse(a.TokenURI); err != nil || u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("push: %s: token_uri %q is not a URL", file, a.TokenURI)
	}
	key, err := rsaKey([]byte(a.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("push: %s: %w", file, err)
	}
	if endpoint == "" {
		endpoint = DefaultFCMEndpoint
	}
	return &fcm{endpoint: strings.TrimRight(endpoint, "/"), acct: a, key: key, hc: hc, now: now}, nil
}

func rsaKey(p []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(p)
	if blk == nil {
		return nil, errors.New("private_key is not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, errors.New("private_key is not an RSA key")
	}
	return x509.ParsePKCS1PrivateKey(blk.Bytes)
}

// token returns a valid access token, getting a new one when the last is
// within a minute of its end (or when stale is set: the API refused it).
func (f *fcm) token(ctx context.Context, stale bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.access != "" && !stale && now.Before(f.expires.Add(-time.Minute)) {
		return f.access, nil
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": f.acct.ClientEmail, "scope": fcmScope, "aud": f.acct.TokenURI,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if f.acct.PrivateKeyID != "" {
		t.Header["kid"] = f.acct.PrivateKeyID
	}
	assertion, err := t.SignedString(f.key)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.acct.TokenURI, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("push: FCM token endpoint answered %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || tok.ExpiresIn <= 0 {
		return "", errors.New("push: FCM token endpoint sent no access token")
	}
	f.access, f.expires = tok.AccessToken, now.Add(time.Duration(tok.ExpiresIn)*time.Second)
	return f.access, nil
}

// fcmMessage is a send request's body. Data values must be strings: a
// content value of another type goes as its JSON.
type fcmMessage struct {
	Message struct {
		Token   string            `json:"token,omitempty"`
		Topic   string            `json:"topic,omitempty"`
		Data    map[string]string `json:"data"`
		Android struct {
			Priority string `json:"priority"`
		} `json:"android"`
	} `json:"message"`
}

// fcmBody encodes content for device token (or topic).
func fcmBody(content json.RawMessage, token, topic string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(content, &fields); err != nil {
		return nil, err
	}
	var m fcmMessage
	m.Message.Token, m.Message.Topic = token, topic
	m.Message.Data = make(map[string]string, len(fields))
	for k, v := range fields {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		m.Message.Data[k] = s
	}
	// A call must ring now, even on a phone that dozes.
	m.Message.Android.Priority = "high"
	return json.Marshal(m)
}

// send makes one attempt to deliver content to an FCM device (or topic).
func (f *fcm) send(ctx context.Context, token, topic string, content json.RawMessage) outcome {
	body, err := fcmBody(content, token, topic)
	if err != nil {
		return outcome{result: resultFailed, err: err}
	}
	for try := 0; ; try++ {
		access, err := f.token(ctx, try > 0)
		if err != nil {
			return outcome{result: resultFailed, err: err}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			f.endpoint+"/v1/projects/"+url.PathEscape(f.acct.ProjectID)+"/messages:send", bytes.NewReader(body))
		if err != nil {
			return outcome{result: resultFailed, err: err}
		}
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.hc.Do(req)
		if err != nil {
			return outcome{result: resultFailed, err: withoutURL("FCM", err), retry: true}
		}
		rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && try == 0 {
			continue // the access token was revoked or expired early
		}
		return fcmOutcome(resp, rb)
	}
}

// fcmOutcome reads FCM's answer. Its errors carry a status and, in their
// details, an FcmError code: UNREGISTERED is a token the app no longer
// has (uninstalled, refreshed); QUOTA_EXCEEDED and UNAVAILABLE ask for a
// retry, after Retry-After when given.
func fcmOutcome(resp *http.Response, body []byte) outcome {
	if resp.StatusCode == http.StatusOK {
		return outcome{result: resultDelivered}
	}
	var e struct {
		Error struct {
			Status  string `json:"status"`
			Message string `json:"message"`
			Details []struct {
				ErrorCode string `json:"errorCode"`
			} `json:"details"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	code := e.Error.Status
	for _, d := range e.Error.Details {
		if d.ErrorCode != "" {
			code = d.ErrorCode
		}
	}
	err := fmt.Errorf("FCM answered %d %s", resp.StatusCode, code)
	switch {
	case code == "UNREGISTERED":
		return outcome{result: resultInvalidToken, err: err}
	case resp.StatusCode == http.StatusTooManyRequests || code == "QUOTA_EXCEEDED":
		return outcome{result: resultRateLimited, err: err, retry: true, after: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode >= 500:
		return outcome{result: resultFailed, err: err, retry: true, after: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return outcome{result: resultFailed, err: err}
}
