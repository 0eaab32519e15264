// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package allocation

import (
	"net"
)

// Protocol is an enum for relay protocol.
type Protocol uint8

// Network protocols for relay.
const (
	UDP Protocol = iota
	TCP
)

func (p Protocol) String() string {
	switch p {
	case UDP:
		return "UDP"
	case TCP:
		return "TCP"
	default:
		return ""
	}
}

// FiveTuple is the combination (client IP address and port, server IP
// address and port, and transport protocol (currently one of UDP,
// TCP, or TLS)) used to communicate between the client and the
// server.  The 5-tuple uniquely identifies this communication
// stream.  The 5-tuple also uniquely identifies the Allocation on
// the server.
type FiveTuple struct {
	Protocol
	SrcAddr, DstAddr net.Addr
}

// Equal asserts if two FiveTuples are equal.
func (f *FiveTuple) Equal(b *FiveTuple) bool {
	return f.Fingerprint() == b.Fingerprint()
}

// FiveTupleFingerprint is a comparable representation of a FiveTuple.
type FiveTupleFingerprint struct {
	srcIP, dstIP     [16]byte
	srcPort, dstPort uint16
	protocol         Protocol
}

// Fingerprint is the identity of a FiveTuple.
func (f *FiveTuple) Fingerprint() (fp FiveTupleFingerprint) {
	srcIP, srcPort := netAddrIPAndPort(f.SrcAddr)
	putIP16(&fp.srcIP, srcIP)
	fp.srcPort = srcPort
	dstIP, dstPort := netAddrIPAndPort(f.DstAddr)
	putIP16(&fp.dstIP, dstIP)
	fp.dstPort = dstPort
	fp.protocol = f.Protocol

	return
}

func netAddrIPAndPort(addr net.Addr) (net.IP, uint16) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return a.IP, uint16(a.Port) // nolint:gosec // G115
	case *net.TCPAddr:
		return a.IP, uint16(a.Port) // nolint:gosec // G115
	default:
		return nil, 0
	}
}

// putIP16 writes ip in its 16-byte form, as net.IP.To16 gives it, without
// the allocation To16 makes for a 4-byte address: the fingerprint is taken
// for every ChannelData datagram relayed.
func putIP16(dst *[16]byte, ip net.IP) {
	if len(ip) == net.IPv4len {
		dst[10], dst[11] = 0xff, 0xff
		copy(dst[12:], ip)

		return
	}
	copy(dst[:], ip.To16())
}
