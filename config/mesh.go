package config

import (
	"path"
	"strconv"
	"strings"
)

// MaxMeshPeers bounds max_peers: every member of a mesh room sends its
// media to every other one, and long before this the senders' uplinks
// (and CPUs) give out (README, "Group calls").
const MaxMeshPeers = 16

// PeerLimit is one max_peers entry: rooms of apps matching Pattern may
// hold up to Max members.
type PeerLimit struct {
	Pattern string
	Max     int
}

// PeerLimits parses max_peers; entries that do not parse are left out
// (Validate reports them).
func (c *Config) PeerLimits() []PeerLimit {
	var out []PeerLimit
	for _, e := range c.MaxPeers {
		if l, ok := parsePeerLimit(e); ok {
			out = append(out, l)
		}
	}
	return out
}

// MaxPeersFor is the most members a room of app may hold: the first
// max_peers entry whose pattern matches app, else 2.
func MaxPeersFor(limits []PeerLimit, app string) int {
	for _, l := range limits {
		if ok, _ := path.Match(l.Pattern, app); ok {
			return l.Max
		}
	}
	return 2
}

func parsePeerLimit(e string) (PeerLimit, bool) {
	pat, n, ok := strings.Cut(strings.TrimSpace(e), "=")
	pat = strings.TrimSpace(pat)
	max, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || pat == "" || err != nil || max < 2 || max > MaxMeshPeers {
		return PeerLimit{}, false
	}
	if _, err := path.Match(pat, ""); err != nil {
		return PeerLimit{}, false
	}
	return PeerLimit{pat, max}, true
}

func (c *Config) validateMaxPeers(bad func(field, format string, args ...any)) {
	for _, e := range c.MaxPeers {
		if _, ok := parsePeerLimit(e); !ok {
			bad("max_peers", "each entry must be app=max with a valid app pattern and max from 2 to %d, got %q", MaxMeshPeers, e)
		}
	}
}
