// Package fakepush runs local stand-ins for Firebase Cloud Messaging and
// Apple's APNs, for tests: HTTPS servers (APNs over HTTP/2 only, as
// Apple's) that check each request the way the real services document
// them — OAuth access tokens obtained with a service account's signed
// assertion for FCM, ES256 provider tokens for APNs, the paths, headers
// and bodies — keep the valid ones, and answer as scripted: a token the
// app no longer has, a 429 with Retry-After.
package fakepush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// CAFile writes the certificate the fake servers present (httptest's) to
// a PEM file in t's temporary directory, for push_ca_file.
func CAFile(t testing.TB, s *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fakepush-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Answer is a scripted answer: a status, a body, and a Retry-After in
// seconds (0: none).
type Answer struct {
	Status     int
	Body       string
	RetryAfter int
}

// script answers a device token's requests in turn; the last answer
// repeats.
type script map[string][]Answer

func (s script) next(token string) (Answer, bool) {
	as := s[token]
	if len(as) == 0 {
		return Answer{}, false
	}
	a := as[0]
	if len(as) > 1 {
		s[token] = as[1:]
	}
	return a, true
}

func write(w http.ResponseWriter, a Answer) {
	if a.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(a.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.Status)
	w.Write([]byte(a.Body))
}

// FCM is a fake FCM: an OAuth token endpoint at /token and the HTTP v1
// send API.
type FCM struct {
	Server      *httptest.Server
	Project     string
	ClientEmail string
	KeyID       string
	Key         *rsa.PrivateKey
	// Credentials is the service-account key file (token_uri points here).
	Credentials string

	mu     sync.Mutex
	issued map[string]bool
	script script
	// Messages are the send requests that were valid, in order.
	messages []FCMMessage
	tokens   int
	bad      []string
}

// FCMMessage is one valid send request's message.
type FCMMessage struct {
	Token   string            `json:"token"`
	Topic   string            `json:"topic"`
	Data    map[string]string `json:"data"`
	Android struct {
		Priority string `json:"priority"`
	} `json:"android"`
}

// NewFCM starts a fake FCM, closed when t ends.
func NewFCM(t testing.TB) *FCM {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &FCM{Project: "duet-test", ClientEmail: "duet@duet-test.iam.gserviceaccount.com", KeyID: "k1", Key: key,
		issued: map[string]bool{}, script: script{}}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.Server.EnableHTTP2 = true
	f.Server.StartTLS()
	t.Cleanup(f.Server.Close)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": f.Project, "private_key_id": f.KeyID,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.ClientEmail, "token_uri": f.Server.URL + "/token",
	})
	f.Credentials = filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(f.Credentials, acct, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Script sets the answers to the next sends to device token.
func (f *FCM) Script(token string, as ...Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[token] = as
}

// Messages returns the valid send requests so far.
func (f *FCM) Messages() []FCMMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FCMMessage(nil), f.messages...)
}

// TokenRequests is how many access tokens were issued.
func (f *FCM) TokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens
}

// Bad returns the requests refused as invalid, with why.
func (f *FCM) Bad() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bad...)
}

func (f *FCM) refuse(w http.ResponseWriter, status int, why string) {
	f.mu.Lock()
	f.bad = append(f.bad, why)
	f.mu.Unlock()
	http.Error(w, why, status)
}

func (f *FCM) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/token":
		f.token(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/projects/"+f.Project+"/messages:send":
		f.send(w, r)
	default:
		f.refuse(w, http.StatusNotFound, "unknown endpoint "+r.Method+" "+r.URL.Path)
	}
}

// token checks a jwt-bearer grant as Google's token endpoint does.
func (f *FCM) token(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		f.refuse(w, http.StatusBadRequest, "token request is not a form")
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		f.refuse(w, http.StatusBadRequest, "grant_type "+r.PostForm.Get("grant_type"))
		return
	}
	var c jwt.MapClaims
	tok, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), &c, func(t *jwt.Token) (any, error) { return &f.Key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithIssuer(f.ClientEmail), jwt.WithAudience(f.Server.URL+"/token"))
	if err != nil {
		f.refuse(w, http.StatusBadRequest, "assertion: "+err.Error())
		return
	}
	iat, _ := c.GetIssuedAt()
	exp, _ := c.GetExpirationTime()
	if tok.Header["kid"] != f.KeyID || c["scope"] != "https://www.googleapis.com/auth/firebase.messaging" ||
		exp.Sub(iat.Time) > time.Hour || time.Since(iat.Time).Abs() > time.Minute {
		f.refuse(w, http.StatusBadRequest, "assertion claims or header")
		return
	}
	var b [16]byte
	rand.Read(b[:])
	access := "ya29.fake-" + hex.EncodeToString(b[:])
	f.mu.Lock()
	f.issued[access] = true
	f.tokens++
	f.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"access_token": access, "expires_in": 3599, "token_type": "Bearer"})
}

func (f *FCM) send(w http.ResponseWriter, r *http.Request) {
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	valid := ok && f.issued[access]
	f.mu.Unlock()
	if !valid {
		f.refuse(w, http.StatusUnauthorized, "no valid access token")
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		f.refuse(w, http.StatusBadRequest, "content type "+r.Header.Get("Content-Type"))
		return
	}
	var body struct {
		Message FCMMessage `json:"message"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		f.refuse(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	m := body.Message
	if (m.Token == "") == (m.Topic == "") || m.Data == nil {
		f.refuse(w, http.StatusBadRequest, "a message needs one of token and topic, and data")
		return
	}
	f.mu.Lock()
	a, scripted := f.script.next(m.Token)
	f.mu.Unlock()
	if scripted && a.Status != http.StatusOK {
		write(w, a)
		return
	}
	f.mu.Lock()
	f.messages = append(f.messages, m)
	f.mu.Unlock()
	write(w, Answer{Status: http.StatusOK, Body: `{"name":"projects/` + f.Project + `/messages/1"}`})
}

// FCMError is the body of an FCM error with an FcmError code.
func FCMError(status int, code string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "message": code, "status": http.StatusText(status),
		"details": []map[string]string{{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}}}})
	return string(b)
}

// APNs is a fake APNs provider API (HTTP/2 over TLS only).
type APNs struct {
	Server  *httptest.Server
	KeyID   string
	TeamID  string
	Topic   string
	Key     *ecdsa.PrivateKey
	KeyFile string // the .p8 file

	mu       sync.Mutex
	script   script
	pushes   []APNsPush
	bad      []string
	provider map[string]bool // provider tokens seen
}

// APNsPush is one valid notification request.
type APNsPush struct {
	Device   string
	PushType string
	Priority string
	Payload  map[string]any
}

// NewAPNs starts a fake APNs, closed when t ends.
func NewAPNs(t testing.TB) *APNs {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &APNs{KeyID: "ABC123DEFG", TeamID: "DEF123GHIJ", Topic: "rtc.duet.app", Key: key, script: script{}, provider: map[string]bool{}}
	a.Server = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.Server.EnableHTTP2 = true
	a.Server.StartTLS()
	t.Cleanup(a.Server.Close)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	a.KeyFile = filepath.Join(t.TempDir(), "AuthKey_"+a.KeyID+".p8")
	if err := os.WriteFile(a.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// Script sets the answers to the next notifications to device.
func (a *APNs) Script(device string, as ...Answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.script[device] = as
}

// Pushes returns the valid notification requests so far.
func (a *APNs) Pushes() []APNsPush {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]APNsPush(nil), a.pushes...)
}

// ProviderTokens is how many different provider tokens were used.
func (a *APNs) ProviderTokens() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.provider)
}

// Bad returns the requests refused as invalid, with why.
func (a *APNs) Bad() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.bad...)
}

func (a *APNs) refuse(w http.ResponseWriter, status int, reason string) {
	a.mu.Lock()
	a.bad = append(a.bad, reason)
	a.mu.Unlock()
	write(w, Answer{Status: status, Body: `{"reason":"` + reason + `"}`})
}

func (a *APNs) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		a.refuse(w, http.StatusBadRequest, "NotHTTP2")
		return
	}
	device, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if r.Method != http.MethodPost || !ok {
		a.refuse(w, http.StatusNotFound, "BadPath")
		return
	}
	if _, err := hex.DecodeString(device); err != nil || device == "" {
		a.refuse(w, http.StatusBadRequest, "BadDeviceToken")
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("authorization"), "bearer ")
	var c jwt.MapClaims
	tok, err := jwt.ParseWithClaims(bearer, &c, func(t *jwt.Token) (any, error) { return &a.Key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(a.TeamID), jwt.WithIssuedAt())
	iat, _ := c.GetIssuedAt()
	if !ok || err != nil || tok.Header["kid"] != a.KeyID || iat == nil || time.Since(iat.Time) > time.Hour {
		a.refuse(w, http.StatusForbidden, "InvalidProviderToken")
		return
	}
	if r.Header.Get("apns-topic") != a.Topic {
		a.refuse(w, http.StatusBadRequest, "BadTopic")
		return
	}
	pt := r.Header.Get("apns-push-type")
	if pt != "alert" && pt != "voip" {
		a.refuse(w, http.StatusBadRequest, "InvalidPushType")
		return
	}
	var payload map[string]any
	if err := json.NewDecoder(r.Body).Decode(&payload); err != nil {
		a.refuse(w, http.StatusBadRequest, "PayloadEmpty")
		return
	}
	if _, ok := payload["aps"].(map[string]any); !ok {
		a.refuse(w, http.StatusBadRequest, "MissingAps")
		return
	}
	a.mu.Lock()
	a.provider[bearer] = true
	ans, scripted := a.script.next(device)
	if !scripted || ans.Status == http.StatusOK {
		a.pushes = append(a.pushes, APNsPush{Device: device, PushType: pt, Priority: r.Header.Get("apns-priority"), Payload: payload})
	}
	a.mu.Unlock()
	if scripted && ans.Status != http.StatusOK {
		write(w, ans)
		return
	}
	w.Header().Set("apns-id", "eabeae54-14a8-11e5-b60b-1697f925ec7b")
	w.WriteHeader(http.StatusOK)
}
