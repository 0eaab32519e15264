package turnserver

import (
	"net"
	"net/netip"
)

// special are non-public ranges that netip's predicates do not cover.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // well-known NAT64: embeds any IPv4 address, private ones too
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID...)
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("255.255.255.255/32"),
}

// peerPolicy decides which peer addresses the relay may reach. By default
// only public unicast addresses: a TURN server must not become a way into
// the network it runs in (loopback services, RFC 1918 and ULA hosts, cloud
// metadata on link-local addresses).
type peerPolicy struct {
	allowPrivate bool
	allowed      []netip.Prefix
	// The server's own addresses (public, relay, listen, and with an
	// unspecified relay address every interface's): a peer there is
	// reached only on a relay port (two callers relayed by this server
	// talk relay to relay), never on the TURN port itself or any other
	// service of the host.
	self               []netip.Addr
	relayMin, relayMax int // 0, 0: any port is a relay port
	listenPort         int
}

// selfReason returns "self" when ip:port is one of the server's own
// addresses on a port that is not a relay port (or is the TURN port).
func (p peerPolicy) selfReason(ip net.IP, port int) string {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "invalid"
	}
	a = a.Unmap()
	own := false
	for _, s := range p.self {
		if s == a {
			own = true
		}
	}
	switch {
	case !own:
		return ""
	case port == p.listenPort:
		return "self"
	case p.relayMin == 0 && p.relayMax == 0:
		return ""
	case port < p.relayMin || port > p.relayMax:
		return "self"
	}
	return ""
}

// ownAddrs are the addresses a server reaches itself on: the public IP,
// the listen and relay IPs, and every interface's address when either of
// those is unspecified.
func ownAddrs(public net.IP, listenHost, relay string) []netip.Addr {
	var out []netip.Addr
	add := func(a netip.Addr) {
		if a.IsValid() && !a.IsUnspecified() {
			out = append(out, a.Unmap())
		}
	}
	if a, ok := netip.AddrFromSlice(public); ok {
		add(a)
	}
	all := false
	for _, h := range []string{listenHost, relay} {
		a, err := netip.ParseAddr(h)
		switch {
		case h == "" || err == nil && a.IsUnspecified():
			all = true
		case err == nil:
			add(a)
		}
	}
	if all {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range addrs {
				if n, ok := ia.(*net.IPNet); ok {
					if a, ok := netip.AddrFromSlice(n.IP); ok {
						add(a)
					}
				}
			}
		}
	}
	return out
}

// reason returns "" when peer may be relayed to, else why not.
func (p peerPolicy) reason(ip net.IP) string {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "invalid"
	}
	a = a.Unmap()
	for _, pre := range p.allowed {
		if pre.Contains(a) {
			return ""
		}
	}
	if a.IsMulticast() || a.IsInterfaceLocalMulticast() || a.IsLinkLocalMulticast() {
		return "multicast" // never: a relay to a group is never a call
	}
	if a.IsUnspecified() {
		return "unspecified"
	}
	if p.allowPrivate {
		return ""
	}
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link_local"
	}
	for _, pre := range special {
		if pre.Contains(a) {
			return "reserved"
		}
	}
	return ""
}

// PeerAllowed reports whether the relay may reach ip when private
// addresses are allowed or not and the networks in allowed are.
func PeerAllowed(ip net.IP, allowPrivate bool, allowed []netip.Prefix) bool {
	return peerPolicy{allowPrivate: allowPrivate, allowed: allowed}.reason(ip) == ""
}
