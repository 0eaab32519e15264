package config

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// validateSecurity checks the connectivity and access settings: ICE
// servers, the embedded TURN server, tokens and client addresses.
func (c *Config) validateSecurity(bad func(field, format string, args ...any)) {
	if c.MaxConnectionsPerIP < 0 {
		bad("max_connections_per_ip", "must not be negative, got %d", c.MaxConnectionsPerIP)
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			bad("trusted_proxies", "%q is not a CIDR or IP address", p)
		}
	}

	for _, u := range c.TurnURIs {
		if !hasAnyPrefix(u, "turn:", "turns:") {
			bad("turn_uris", "must start with turn: or turns:, got %q", u)
		}
	}
	if c.TurnSecret != "" && len(c.TurnSecret) < MinTurnSecret {
		bad("turn_secret", "must be at least %d bytes (anyone who guesses it mints TURN credentials), got %d", MinTurnSecret, len(c.TurnSecret))
	}
	if c.TurnSecret != "" && (c.TurnUsername != "" || c.TurnCredential != "") {
		bad("turn_secret", "set turn_secret or turn_username/turn_credential, not both")
	}
	if (c.TurnUsername == "") != (c.TurnCredential == "") {
		bad("turn_username", "turn_username and turn_credential must be set together")
	}
	if len(c.TurnURIs) > 0 && c.TurnSecret == "" && c.TurnUsername == "" && c.TurnSecretFile == "" {
		bad("turn_uris", "need turn_secret, turn_secret_file or turn_username/turn_credential")
	}
	if c.TurnCredentialTTL < time.Minute {
		bad("turn_credential_ttl", "must be at least 1m, got %s", c.TurnCredentialTTL)
	}

	if c.TurnEnabled {
		if _, port, err := net.SplitHostPort(c.TurnListen); err != nil || port == "" {
			bad("turn_listen", "must be host:port, got %q", c.TurnListen)
		}
		if c.TurnPublicIP != "" && net.ParseIP(c.TurnPublicIP) == nil {
			bad("turn_public_ip", "must be an IP address, got %q", c.TurnPublicIP)
		}
		if net.ParseIP(c.TurnRelayAddress) == nil {
			bad("turn_relay_address", "must be an IP address, got %q", c.TurnRelayAddress)
		}
		if c.TurnRealm == "" {
			bad("turn_realm", "must not be empty")
		}
	}
	if c.TurnRelayPortMin < 1 || c.TurnRelayPortMin > 65535 {
		bad("turn_relay_port_min", "must be between 1 and 65535, got %d", c.TurnRelayPortMin)
	}
	if c.TurnRelayPortMax < c.TurnRelayPortMin || c.TurnRelayPortMax > 65535 {
		bad("turn_relay_port_max", "must be between turn_relay_port_min (%d) and 65535, got %d", c.TurnRelayPortMin, c.TurnRelayPortMax)
	}
	for _, d := range []struct {
		name string
		v    int
	}{{"turn_user_quota", c.TurnUserQuota}, {"turn_max_allocations", c.TurnMaxAllocations}, {"turn_bandwidth", c.TurnBandwidth}} {
		if d.v < 0 {
			bad(d.name, "must not be negative, got %d", d.v)
		}
	}
	if c.TurnBandwidth > 0 && c.TurnBandwidth < 2048 {
		bad("turn_bandwidth", "must be 0 or at least 2048 bytes per second (one packet), got %d", c.TurnBandwidth)
	}
	for _, p := range c.TurnAllowedPeers {
		if _, err := ParsePrefix(p); err != nil {
			bad("turn_allowed_peers", "%q is not a CIDR or IP address", p)
		}
	}

	if c.TokenSecret != "" && c.TokenKeyFile != "" {
		bad("token_secret", "set token_secret or token_key_file, not both")
	}
	if c.TokenSecret != "" && len(c.TokenSecret) < 32 {
		bad("token_secret", "must be at least 32 bytes for HS256, got %d", len(c.TokenSecret))
	}
	if c.TokenKeyFile != "" {
		if _, err := os.Stat(c.TokenKeyFile); err != nil {
			bad("token_key_file", "%v", err)
		}
	}
}

// ParsePrefix parses a CIDR ("10.0.0.0/8") or a single address ("10.0.0.1",
// taken as /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParsePrefixes parses a validated list of CIDRs; invalid entries are skipped.
func ParsePrefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// MinTurnSecret is the shortest turn_secret accepted: whoever learns it
// mints TURN credentials, and HMAC keys are guessed offline from any one
// credential they signed.
const MinTurnSecret = 16
