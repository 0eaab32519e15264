package config

import (
	"net"
	"net/netip"
	"strings"
)

// validateTURN checks the embedded TURN server's TLS listener and the host
// it advertises.
func (c *Config) validateTURN(bad func(field, format string, args ...any)) {
	if c.TurnTLSListen != "" {
		if _, port, err := net.SplitHostPort(c.TurnTLSListen); err != nil || port == "" {
			bad("turn_tls_listen", "%q is not host:port; write e.g. :5349", c.TurnTLSListen)
		}
		if !c.TurnEnabled {
			bad("turn_tls_listen", "%q needs turn_enabled: true (or duet turn)", c.TurnTLSListen)
		}
		if c.TLSMode() == TLSOff {
			bad("turn_tls_listen", "%q needs a certificate: set tls_cert and tls_key, tls_self_signed or tls_acme_domains", c.TurnTLSListen)
		}
		if _, port, _ := net.SplitHostPort(c.TurnTLSListen); c.TurnTLSListen == c.TurnListen && port != "0" {
			bad("turn_tls_listen", "%q is turn_listen too, whose TCP port speaks plain TURN; write another, e.g. :5349", c.TurnTLSListen)
		}
	}
	if c.TurnHost != "" && !validHostName(c.TurnHost) {
		bad("turn_host", "%q is not a host name or IP address without a port; write e.g. turn.example.com", c.TurnHost)
	}
}

// TURNTLSShared reports whether TURN over TLS shares the HTTPS listener:
// turn_tls_listen names the address of listen (the same port, not 0, and
// the same host or both every address).
func (c *Config) TURNTLSShared() bool {
	if c.TurnTLSListen == "" {
		return false
	}
	h1, p1, err1 := net.SplitHostPort(c.TurnTLSListen)
	h2, p2, err2 := net.SplitHostPort(c.Listen)
	if err1 != nil || err2 != nil || p1 != p2 || p1 == "0" { // port 0: each its own free port
		return false
	}
	return h1 == h2 || anyAddr(h1) && anyAddr(h2)
}

func anyAddr(host string) bool {
	if host == "" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}

// validHostName accepts an IP address or a DNS name of letters, digits,
// hyphens and dots.
func validHostName(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
