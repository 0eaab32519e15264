package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr finds who is at the other end of r. The direct peer is the
// client unless it is a trusted proxy; then X-Forwarded-For is read from
// the right (each proxy appends the address it saw) and the first hop that
// is not itself a trusted proxy is the client. Entries further left were
// written by the client or by proxies we do not know, so they are never
// believed. remote is what logs and access.JoinRequest.RemoteAddr show.
func clientAddr(r *http.Request, trusted []netip.Prefix) (addr netip.Addr, remote string) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, r.RemoteAddr
	}
	addr, remote = ap.Addr().Unmap(), r.RemoteAddr
	if !inAny(addr, trusted) {
		return addr, remote
	}
	hops := r.Header.Values("X-Forwarded-For")
	if len(hops) == 0 {
		return addr, remote
	}
	list := strings.Split(strings.Join(hops, ","), ",")
	for i := len(list) - 1; i >= 0; i-- {
		h, ok := parseHop(list[i])
		if !ok {
			break // a hop we cannot read: stop at the last one we could
		}
		addr, remote = h, h.String()
		if !inAny(h, trusted) {
			break
		}
	}
	return addr, remote
}

// parseHop reads one X-Forwarded-For entry: an IP, maybe with a port, maybe
// in brackets. An IPv6 zone ("fe80::1%eth0") makes it unreadable: a zone
// is any text, it means nothing beyond the proxy's host, and the address
// goes into logs, the admin API and webhooks.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	var a netip.Addr
	if v, err := netip.ParseAddr(s); err == nil {
		a = v
	} else if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}, false
		}
	} else {
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func inAny(a netip.Addr, list []netip.Prefix) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// capKey is the key of the per-address connection cap: the address, or for
// IPv6 its /64, since one host usually holds a whole /64.
func capKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// reserveIP counts one more socket for a; it reports false, counting
// nothing, when a already has max_connections_per_ip. The caller holds s.mu.
func (s *Server) reserveIPLocked(a netip.Addr) bool {
	limit := s.cfg.MaxConnectionsPerIP
	if limit <= 0 || !a.IsValid() {
		return true
	}
	k := capKey(a)
	if s.perIP[k] >= limit {
		return false
	}
	s.perIP[k]++
	return true
}

// releaseIP forgets one socket of a.
func (s *Server) releaseIP(a netip.Addr) {
	if s.cfg.MaxConnectionsPerIP <= 0 || !a.IsValid() {
		return
	}
	k := capKey(a)
	s.mu.Lock()
	if s.perIP[k]--; s.perIP[k] <= 0 {
		delete(s.perIP, k)
	}
	s.mu.Unlock()
}
