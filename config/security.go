package config

import (
	"errors"
	"fmt"
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
		bad("max_connections_per_ip", "%d is negative; write 0 for no limit, or e.g. 50", c.MaxConnectionsPerIP)
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			bad("trusted_proxies", "%q is not a CIDR or IP address; write e.g. 10.0.0.0/16 or 127.0.0.1", p)
		}
	}

	for _, u := range c.TurnURIs {
		if !hasAnyPrefix(u, "turn:", "turns:") {
			bad("turn_uris", "%q does not start with turn: or turns:; write e.g. turn:turn.example.com:3478?transport=udp", u)
		}
	}
	if c.TurnSecret != "" && len(c.TurnSecret) < MinTurnSecret {
		bad("turn_secret", "%d bytes is too short (anyone who guesses it mints TURN credentials); write at least %d, e.g. the output of openssl rand -base64 32", len(c.TurnSecret), MinTurnSecret)
	}
	if c.TurnSecret != "" && (c.TurnUsername != "" || c.TurnCredential != "") {
		bad("turn_secret", "set turn_secret (time-limited credentials) or turn_username and turn_credential (static ones), not both")
	}
	if (c.TurnUsername == "") != (c.TurnCredential == "") {
		bad("turn_username", "turn_username and turn_credential go together; set both, or neither")
	}
	if len(c.TurnURIs) > 0 && c.TurnSecret == "" && c.TurnUsername == "" && c.TurnSecretFile == "" {
		bad("turn_uris", "%d URIs without credentials; set turn_secret or turn_secret_file (time-limited credentials), or turn_username and turn_credential", len(c.TurnURIs))
	}
	if c.TurnCredentialTTL < time.Minute {
		bad("turn_credential_ttl", "%s is below 1m; write e.g. 24h", short(c.TurnCredentialTTL))
	}

	if c.TurnEnabled {
		if _, port, err := net.SplitHostPort(c.TurnListen); err != nil || port == "" {
			bad("turn_listen", "%q is not host:port; write e.g. :3478", c.TurnListen)
		}
		if c.TurnPublicIP != "" && net.ParseIP(c.TurnPublicIP) == nil {
			bad("turn_public_ip", "%q is not an IP address; write e.g. 203.0.113.10", c.TurnPublicIP)
		}
		if net.ParseIP(c.TurnRelayAddress) == nil {
			bad("turn_relay_address", "%q is not an IP address; write e.g. 0.0.0.0", c.TurnRelayAddress)
		}
		if c.TurnRealm == "" {
			bad("turn_realm", "must not be empty; write e.g. duet")
		}
	}
	if c.TurnRelayPortMin < 1 || c.TurnRelayPortMin > 65535 {
		bad("turn_relay_port_min", "%d is not a port (1 to 65535); write e.g. 49152", c.TurnRelayPortMin)
	}
	if c.TurnRelayPortMax < c.TurnRelayPortMin || c.TurnRelayPortMax > 65535 {
		bad("turn_relay_port_max", "%d is not between turn_relay_port_min (%d) and 65535; write e.g. 65535", c.TurnRelayPortMax, c.TurnRelayPortMin)
	}
	def := Default()
	for _, d := range []struct {
		name     string
		v, write int
	}{{"turn_user_quota", c.TurnUserQuota, def.TurnUserQuota}, {"turn_max_allocations", c.TurnMaxAllocations, def.TurnMaxAllocations},
		{"turn_bandwidth", c.TurnBandwidth, def.TurnBandwidth}, {"turn_token_quota", c.TurnTokenQuota, def.TurnTokenQuota},
		{"turn_ip_quota", c.TurnIPQuota, def.TurnIPQuota}} {
		if d.v < 0 {
			bad(d.name, "%d is negative; write 0 for no limit, or e.g. %d", d.v, d.write)
		}
	}
	if c.TurnBandwidth > 0 && c.TurnBandwidth < 2048 {
		bad("turn_bandwidth", "%d is below one packet a second (2048 bytes); write 0 for no limit, or e.g. 1048576", c.TurnBandwidth)
	}
	for _, p := range c.TurnAllowedPeers {
		if _, err := ParsePrefix(p); err != nil {
			bad("turn_allowed_peers", "%q is not a CIDR or IP address; write e.g. 10.20.0.0/16", p)
		}
	}

	if c.TokenSecret != "" && c.TokenKeyFile != "" {
		bad("token_secret", "set token_secret (HS256) or token_key_file (RS256/ES256), not both")
	}
	if c.TokenSecret != "" && TokenSecretProblem(c.TokenSecret) != "" {
		bad("token_secret", "%s", TokenSecretProblem(c.TokenSecret))
	}
	if c.TokenKeyFile != "" {
		if _, err := os.Stat(c.TokenKeyFile); err != nil {
			bad("token_key_file", "%q cannot be read: %v", c.TokenKeyFile, unwrapPath(err))
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

// MinTokenSecret is the shortest HS256 secret accepted for room tokens:
// 256 bits, the size of the hash.
const MinTokenSecret = 32

// TokenSecretProblem says what is wrong with an HS256 room-token secret,
// or "" when it will do. duet token asks it too, so that it never mints a
// token with a secret the server would refuse to start with.
func TokenSecretProblem(secret string) string {
	if len(secret) >= MinTokenSecret {
		return ""
	}
	return fmt.Sprintf("%d bytes is too short; write at least %d (HS256 needs 256 bits), e.g. the output of openssl rand -base64 32", len(secret), MinTokenSecret)
}

// unwrapPath drops the path an *os.PathError repeats: the message names
// the file already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// MinTurnSecret is the shortest turn_secret accepted: whoever learns it
// mints TURN credentials, and HMAC keys are guessed offline from any one
// credential they signed.
const MinTurnSecret = 16
