package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

// dialStatus dials with extra headers and returns the HTTP status of the
// handshake (101 on success; the socket then closes with the test).
func dialStatus(t *testing.T, url string, h http.Header) int {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
		return resp.StatusCode
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode
}

func xff(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }

// TestMaxConnectionsPerIP: the cap refuses the next socket from the same
// address with 429 before upgrading, counts it, and frees a slot when a
// socket closes.
func TestMaxConnectionsPerIP(t *testing.T) {
	s := startSingle(t, func(c *config.Config) { c.MaxConnectionsPerIP = 2 })
	a := wstest.Dial(t, s.URL("live"))
	wstest.Dial(t, s.URL("live"))
	if code := dialStatus(t, s.URL("live"), nil); code != http.StatusTooManyRequests {
		t.Fatalf("third socket: HTTP %d, want 429", code)
	}
	// A client behind no trusted proxy cannot dodge the cap with a header.
	if code := dialStatus(t, s.URL("live"), xff("198.51.100.7")); code != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For: HTTP %d, want 429", code)
	}
	_, body := wstest.HTTPGet(t, s.HTTP()+"/metrics")
	if !strings.Contains(body, `duet_connections_rejected_total{reason="max_connections_per_ip"} 2`) {
		t.Errorf("metrics lack the refusals:\n%s", grep(body, "rejected"))
	}
	a.WS.Close()
	wstest.Eventually(t, "the closed socket to be released", func() bool { return s.Connections() == 1 })
	if code := dialStatus(t, s.URL("live"), nil); code != http.StatusSwitchingProtocols {
		t.Fatalf("after a close: HTTP %d, want 101", code)
	}
}

// recorder is an Authorizer that lets everyone in and remembers addresses.
type recorder struct {
	mu    sync.Mutex
	addrs []string
}

func (r *recorder) AuthorizeJoin(_ context.Context, req access.JoinRequest) error {
	r.mu.Lock()
	r.addrs = append(r.addrs, req.RemoteAddr)
	r.mu.Unlock()
	return nil
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.addrs) == 0 {
		return ""
	}
	return r.addrs[len(r.addrs)-1]
}

// TestTrustedProxyForwardedFor: behind a trusted proxy, the client address
// (for the cap and access.JoinRequest.RemoteAddr) is the rightmost untrusted
// X-Forwarded-For hop; the same header from an untrusted peer is ignored.
func TestTrustedProxyForwardedFor(t *testing.T) {
	rec := &recorder{}
	cfg := testserver.Config()
	cfg.MaxConnectionsPerIP = 1
	cfg.TrustedProxies = []string{"127.0.0.0/8"}
	s := testserver.Start(t, cfg, server.Options{Authorizer: rec})

	rooms := 0
	dialJoin := func(h http.Header) {
		t.Helper()
		ws, _, err := websocket.DefaultDialer.Dial(s.URL("live"), h)
		if err != nil {
			t.Fatal(err)
		}
		c := &wstest.Client{T: t, WS: ws}
		t.Cleanup(func() { ws.Close() })
		rooms++
		wstest.Join(c, fmt.Sprint("r", rooms))
		c.Expect("notification", "joined")
	}
	dialJoin(xff("1.1.1.1, 203.0.113.5"))
	if got := rec.last(); got != "203.0.113.5" {
		t.Fatalf("RemoteAddr %q, want the rightmost untrusted hop 203.0.113.5", got)
	}
	// Same client through the proxy: over the cap, whatever it puts on the left.
	if code := dialStatus(t, s.URL("live"), xff("9.9.9.9, 203.0.113.5")); code != http.StatusTooManyRequests {
		t.Fatalf("second socket of 203.0.113.5: HTTP %d, want 429", code)
	}
	// Another client through the same proxy has its own slot.
	dialJoin(xff("203.0.113.6, 127.0.0.9"))
	if got := rec.last(); got != "203.0.113.6" {
		t.Fatalf("RemoteAddr %q, want 203.0.113.6 (127.0.0.9 is a trusted hop)", got)
	}

	// The same headers from a peer that is not a trusted proxy are ignored.
	cfg.TrustedProxies = []string{"10.0.0.0/8"}
	rec2 := &recorder{}
	s2 := testserver.Start(t, cfg, server.Options{Authorizer: rec2})
	ws, _, err := websocket.DefaultDialer.Dial(s2.URL("live"), xff("203.0.113.5"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &wstest.Client{T: t, WS: ws}
	wstest.Join(c, "r")
	c.Expect("notification", "joined")
	if got := rec2.last(); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("RemoteAddr %q, want the direct peer 127.0.0.1:port", got)
	}
	if code := dialStatus(t, s2.URL("live"), xff("203.0.113.99")); code != http.StatusTooManyRequests {
		t.Fatalf("untrusted peer with another X-Forwarded-For: HTTP %d, want 429", code)
	}
}

func grep(body, word string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
