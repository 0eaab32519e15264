package server

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/config"
)

func TestClientAddr(t *testing.T) {
	trusted := config.ParsePrefixes([]string{"10.0.0.0/8", "fd00::/8"})
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct client, no header", "203.0.113.9:4000", nil, "203.0.113.9"},
		{"untrusted peer: header ignored", "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted proxy", "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entries skipped", "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", "10.1.2.3:4000", []string{"1.1.1.1", "198.51.100.1", "10.9.9.9"}, "198.51.100.1"},
		{"hop with port", "10.1.2.3:4000", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"IPv6 hop", "[fd00::1]:4000", []string{"[2001:db8::7]:1234"}, "2001:db8::7"},
		{"unreadable hop stops the walk", "10.1.2.3:4000", []string{"198.51.100.1, garbage"}, "10.1.2.3"},
		{"only trusted hops", "10.1.2.3:4000", []string{"10.7.7.7"}, "10.7.7.7"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		// A zone is any text (issue #20: HTML, right-to-left overrides,
		// tabs reached the admin API, webhooks and logs): unreadable.
		{"zone with markup", "10.1.2.3:4000", []string{"fe80::1%<b>x</b>"}, "10.1.2.3"},
		{"zone with RTL override", "10.1.2.3:4000", []string{"[fe80::1%\u202egnp.exe]:80"}, "10.1.2.3"},
		{"zone with a tab", "10.1.2.3:4000", []string{"198.51.100.1, fe80::2%\tx"}, "10.1.2.3"},
	} {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got, remote := clientAddr(r, trusted)
		if got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
		if strings.ContainsAny(remote, "%<>\t\u202e") {
			t.Errorf("%s: remote %q carries the zone", tc.name, remote)
		}
	}
}

func TestCapKeyGroupsIPv6By64(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if capKey(a) != capKey(b) || capKey(a) == capKey(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Fatal("IPv6 addresses are not grouped by /64")
	}
	if v4 := netip.MustParseAddr("192.0.2.1"); capKey(v4) != v4 {
		t.Fatal("IPv4 key changed")
	}
}
