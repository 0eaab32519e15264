package config

import (
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// TLSMode is where the server's certificate comes from.
type TLSMode string

// The TLS modes; at most one is configured.
const (
	TLSOff        TLSMode = "off"         // plain HTTP and ws://
	TLSFiles      TLSMode = "files"       // tls_cert and tls_key
	TLSSelfSigned TLSMode = "self-signed" // tls_self_signed
	TLSACME       TLSMode = "acme"        // tls_acme_domains
)

// TLSMode reports which certificate source the configuration asks for.
func (c *Config) TLSMode() TLSMode {
	switch {
	case len(c.TLSACMEDomains) > 0:
		return TLSACME
	case c.TLSSelfSigned:
		return TLSSelfSigned
	case c.TLSCert != "":
		return TLSFiles
	}
	return TLSOff
}

// HSTSMaxAge is the max-age of the Strict-Transport-Security header, or 0
// when none is sent. "auto" sends one year with ACME certificates only: a
// self-signed certificate is one a browser was told to accept once, and a
// certificate file may come from a private CA the operator tries on a port
// shared with other plain-HTTP services of the same host.
func (c *Config) HSTSMaxAge() time.Duration {
	switch c.TLSHSTS {
	case "auto":
		if c.TLSMode() == TLSACME {
			return 365 * 24 * time.Hour
		}
		return 0
	case "off", "":
		return 0
	}
	d, _ := time.ParseDuration(c.TLSHSTS)
	return max(d, 0)
}

// validateTLS checks the certificate sources, the HTTP redirect listener and
// HSTS.
func (c *Config) validateTLS(bad func(field, format string, args ...any)) {
	if c.TLSTicketRotation < time.Hour || c.TLSTicketRotation > 7*24*time.Hour {
		bad("tls_ticket_rotation", "must be between 1h and 168h, got %s", c.TLSTicketRotation)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_cert", "tls_cert and tls_key go together; set both (PEM files), or neither")
	}
	modes := 0
	for _, on := range []bool{c.TLSCert != "", c.TLSSelfSigned, len(c.TLSACMEDomains) > 0} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		bad("tls_self_signed", "choose one certificate source: tls_cert/tls_key, tls_self_signed or tls_acme_domains")
	}
	for _, d := range c.TLSACMEDomains {
		if !validHostname(d) {
			bad("tls_acme_domains", "%q is not a DNS name (ACME here needs public names such as call.example.com: no IP addresses, no wildcards)", d)
		}
	}
	if u, err := url.Parse(c.TLSACMECA); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("tls_acme_ca", "%q is not an https:// URL; write e.g. https://acme-v02.api.letsencrypt.org/directory", c.TLSACMECA)
	}
	if c.TLSACMEEmail != "" && (!strings.Contains(c.TLSACMEEmail, "@") || strings.ContainsAny(c.TLSACMEEmail, " \t,<>")) {
		bad("tls_acme_email", "%q is not one e-mail address; write e.g. ops@example.com", c.TLSACMEEmail)
	}
	if c.TLSACMECARoot != "" {
		if _, err := os.Stat(c.TLSACMECARoot); err != nil {
			bad("tls_acme_ca_root", "%q cannot be read: %v", c.TLSACMECARoot, unwrapPath(err))
		}
	}
	switch c.TLSHSTS {
	case "auto", "off":
	default:
		if d, err := time.ParseDuration(c.TLSHSTS); err != nil || d <= 0 {
			bad("tls_hsts", "%q is not auto, off or a positive duration; write e.g. 8760h", c.TLSHSTS)
		} else if c.TLSSelfSigned {
			// A browser that has seen HSTS refuses the click-through a
			// self-signed certificate needs: the site would be locked.
			bad("tls_hsts", "%q with tls_self_signed would lock browsers out (HSTS forbids accepting a self-signed certificate); write auto or off", c.TLSHSTS)
		}
	}
	if c.HTTPListen != "" {
		_, port, err := net.SplitHostPort(c.HTTPListen)
		switch {
		case err != nil || port == "":
			bad("http_listen", "%q is not host:port; write e.g. :80", c.HTTPListen)
		case c.TLSMode() == TLSOff:
			bad("http_listen", "redirects to HTTPS: set tls_self_signed, tls_acme_domains or tls_cert/tls_key too")
		default:
			if _, lport, err := net.SplitHostPort(c.Listen); err == nil && lport == port && port != "0" {
				bad("http_listen", "%q uses the port of listen (%s); write another, e.g. :80", c.HTTPListen, c.Listen)
			}
		}
	}
}

// validHostname reports whether s is a DNS name with at least two labels of
// letters, digits and inner hyphens.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 || net.ParseIP(s) != nil {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
