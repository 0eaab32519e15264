package certs

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// Hosts are the names and addresses a self-signed certificate is made for.
type Hosts struct {
	Names []string
	IPs   []netip.Addr
}

// LocalHosts lists this machine's host name (and name.local, which phones
// resolve over mDNS), localhost, and the addresses of its interfaces except
// link-local ones.
func LocalHosts() Hosts {
	h := Hosts{Names: []string{"localhost"}, IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}}
	if name, err := os.Hostname(); err == nil && name != "" && name != "localhost" {
		name = strings.ToLower(name)
		h.Names = append(h.Names, name)
		if !strings.Contains(name, ".") {
			h.Names = append(h.Names, name+".local")
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && usable(p.Addr()) {
				h.IPs = append(h.IPs, p.Addr().Unmap())
			}
		}
	}
	return h.normal()
}

// usable reports whether a client could reach this machine at ip.
func usable(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && !ip.IsMulticast()
}

// normal sorts and de-duplicates h.
func (h Hosts) normal() Hosts {
	slices.Sort(h.Names)
	h.Names = slices.Compact(h.Names)
	for i := range h.IPs {
		h.IPs[i] = h.IPs[i].Unmap()
	}
	slices.SortFunc(h.IPs, func(a, b netip.Addr) int { return a.Compare(b) })
	h.IPs = slices.Compact(h.IPs)
	return h
}

// union is h with every name and address of o.
func (h Hosts) union(o Hosts) Hosts {
	return Hosts{Names: append(slices.Clone(h.Names), o.Names...), IPs: append(slices.Clone(h.IPs), o.IPs...)}.normal()
}

// covers reports whether every name and address of o is in h.
func (h Hosts) covers(o Hosts) bool {
	for _, n := range o.Names {
		if !slices.Contains(h.Names, n) {
			return false
		}
	}
	for _, ip := range o.IPs {
		if !slices.Contains(h.IPs, ip.Unmap()) {
			return false
		}
	}
	return true
}

// LANAddrs are the addresses of hs another device on the network could
// open: neither loopback nor link-local, IPv4 first.
func LANAddrs(hs Hosts) []netip.Addr {
	var out []netip.Addr
	for _, ip := range hs.IPs {
		if !ip.IsLoopback() && usable(ip) {
			out = append(out, ip)
		}
	}
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		if a.Is4() != b.Is4() {
			if a.Is4() {
				return -1
			}
			return 1
		}
		return a.Compare(b)
	})
	return out
}
