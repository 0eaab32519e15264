package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTLSModesAndHSTS(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		mode TLSMode
		hsts time.Duration
	}{
		{"plain", nil, TLSOff, 0},
		{"self-signed", []string{"--tls-self-signed"}, TLSSelfSigned, 0},
		{"acme", []string{"--tls-acme-domains", "call.example.com,www.call.example.com"}, TLSACME, 365 * 24 * time.Hour},
		{"acme, HSTS off", []string{"--tls-acme-domains", "call.example.com", "--tls-hsts", "off"}, TLSACME, 0},
		{"acme with redirect", []string{"--tls-acme-domains", "call.example.com", "--listen", ":443", "--http-listen", ":80"}, TLSACME, 365 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.TLSMode() != tc.mode || c.HSTSMaxAge() != tc.hsts {
				t.Fatalf("mode %s hsts %s, want %s %s", c.TLSMode(), c.HSTSMaxAge(), tc.mode, tc.hsts)
			}
		})
	}
}

func TestTLSValidation(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.pem")
	for _, tc := range []struct {
		args []string
		want string // the field named in the error
	}{
		{[]string{"--tls-self-signed", "--tls-acme-domains", "a.example.com"}, "tls_self_signed: choose one"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-self-signed"}, "tls_self_signed: choose one"},
		{[]string{"--tls-cert", "c.pem"}, "tls_cert: tls_cert and tls_key"},
		{[]string{"--tls-acme-domains", "localhost"}, "tls_acme_domains"},
		{[]string{"--tls-acme-domains", "*.example.com"}, "tls_acme_domains"},
		{[]string{"--tls-acme-domains", "203.0.113.7"}, "tls_acme_domains"},
		{[]string{"--tls-acme-domains", "a.example.com", "--tls-acme-ca", "http://ca.example/dir"}, "tls_acme_ca: \"http://ca.example/dir\" is not an https:// URL"},
		{[]string{"--tls-acme-domains", "a.example.com", "--tls-acme-email", "ops example.com"}, "tls_acme_email"},
		{[]string{"--tls-acme-domains", "a.example.com", "--tls-acme-ca-root", missing}, "tls_acme_ca_root"},
		{[]string{"--tls-hsts", "sometimes"}, "tls_hsts"},
		{[]string{"--http-listen", ":80"}, "http_listen: redirects to HTTPS"},
		{[]string{"--tls-self-signed", "--http-listen", "80"}, "http_listen: \"80\" is not host:port"},
		{[]string{"--tls-self-signed", "--listen", ":8443", "--http-listen", "127.0.0.1:8443"}, "uses the port of listen"},
	} {
		_, err := load(t, tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestTLSFromEnvironment(t *testing.T) {
	c, err := load(t, nil, map[string]string{
		"DUET_TLS_ACME_DOMAINS": "call.example.com, b.example.com", "DUET_DATA_DIR": "/var/lib/duet",
		"DUET_HTTP_LISTEN": ":80", "DUET_LISTEN": ":443", "DUET_TLS_ACME_EMAIL": "ops@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.TLSACMEDomains, "|") != "call.example.com|b.example.com" || c.DataDir != "/var/lib/duet" || c.HTTPListen != ":80" {
		t.Fatalf("%+v", c)
	}
	if c.TLSACMECA != "https://acme-v02.api.letsencrypt.org/directory" {
		t.Fatalf("default CA %q", c.TLSACMECA)
	}
}
