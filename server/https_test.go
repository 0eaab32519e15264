package server_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// startHTTPS runs a server with the certificate files of selfSigned and
// the given HSTS value.
func startHTTPS(t *testing.T, hsts string) (*testserver.Server, *http.Client) {
	t.Helper()
	certFile, keyFile, pool := selfSigned(t)
	tc, err := certs.FromFiles(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := testserver.Start(t, testserver.Config(), server.Options{TLS: tc, HSTS: hsts})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return s, &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestPlainHTTPOnTheTLSPortIsRedirected: someone types http://host:port;
// the same port answers with a redirect to https:// instead of a TLS error.
func TestPlainHTTPOnTheTLSPortIsRedirected(t *testing.T) {
	s, hc := startHTTPS(t, "")
	resp, err := hc.Get("http://" + s.Addr + "/?room=abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + s.Addr + "/?room=abc"; resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("%d Location %q, want 307 %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// Following it works, over HTTP/1.1 only (h2 is not offered), without HSTS.
	resp, err = hc.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.ProtoMajor != 1 || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Fatalf("https: %d %s HSTS %q", resp.StatusCode, resp.Proto, resp.Header.Get("Strict-Transport-Security"))
	}

	// Garbage that is neither TLS nor HTTP gets a plain 400 and the
	// server goes on.
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "\x00\x01 not http\r\n\r\n")
	status, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(status, "HTTP/1.1 400") {
		t.Fatalf("garbage got %q", status)
	}
	if code, body := httpsGet(t, hc, "https://"+s.Addr+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz after: %d %q", code, body)
	}
}

func TestHSTSOnlyOverHTTPS(t *testing.T) {
	s, hc := startHTTPS(t, "max-age=600")
	resp, err := hc.Get("https://" + s.Addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=600" {
		t.Fatalf("HSTS %q", got)
	}
	// The redirect port and the redirect on the TLS port send none: HSTS
	// over plain HTTP means nothing (RFC 6797 section 7.2).
	resp, err = hc.Get("http://" + s.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Fatalf("HSTS over plain HTTP: %q", got)
	}
}

// TestRedirectHandler: the plain-HTTP listener beside the TLS one answers
// health and readiness itself and sends the rest to https on the TLS port.
func TestRedirectHandler(t *testing.T) {
	s, _ := startHTTPS(t, "")
	for _, tc := range []struct{ httpsAddr, host, path, want string }{
		{"[::]:8443", "call.example.com", "/?room=r1", "https://call.example.com:8443/?room=r1"},
		{"0.0.0.0:443", "call.example.com:80", "/sdk/duet.js", "https://call.example.com/sdk/duet.js"},
		{"[::]:443", "[2001:db8::1]:80", "/", "https://[2001:db8::1]/"},
		{"[::]:5443", "[2001:db8::1]", "/x", "https://[2001:db8::1]:5443/x"},
	} {
		h := s.RedirectHandler(tc.httpsAddr)
		r := httptest.NewRequest("GET", "http://"+tc.host+tc.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != tc.want {
			t.Errorf("%s%s via %s: %d %q, want %s", tc.host, tc.path, tc.httpsAddr, w.Code, w.Header().Get("Location"), tc.want)
		}
	}
	h := s.RedirectHandler(s.Addr)
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://x"+path, nil))
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("%s: %d %q", path, w.Code, w.Body.String())
		}
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "http://x/", nil)
	r.Host = "evil\r\nSet-Cookie: a=b"
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Errorf("bad Host: %d", w.Code)
	}
	// The Host header is the client's: a redirect names only hosts the
	// certificate is for (issue #20).
	for _, host := range []string{"evil.example", "evil.example:80", "[2001:db8::2]", "127.0.0.2"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://"+host+"/", nil))
		if w.Code != http.StatusMisdirectedRequest || w.Header().Get("Location") != "" {
			t.Errorf("Host %s: %d Location %q, want 421 and no redirect", host, w.Code, w.Header().Get("Location"))
		}
	}
}

// TestPlainHTTPRedirectNamesOnlyOwnHosts: on the TLS port too, a plain
// request whose Host the certificate is not for is refused, not
// redirected there.
func TestPlainHTTPRedirectNamesOnlyOwnHosts(t *testing.T) {
	s, _ := startHTTPS(t, "")
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("%d Location %q, want 421 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func httpsGet(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
