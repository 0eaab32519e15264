package netlab

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A NAT lab: an "internet" namespace that routes between sites and the
// test's server, and sites behind it, each a host namespace (where a
// browser or a Go peer runs) behind a router namespace with nftables, or
// on the internet directly. The server runs in the test's own namespace
// at Lab.Server, reached from the internet over one veth pair: the only
// link and the only route the lab adds outside its namespaces.
//
//	server (test ns) ── inet ──┬── router (NAT, firewall) ── host   a site
//	                           ├── router ── host
//	                           └── host                               an open site
//
// There is no bridge: inet routes between its point-to-point links.

// Kind is what stands between a site's host and the internet.
type Kind int

// The kinds of site.
const (
	// Open: the host has a public address, no NAT, no firewall.
	Open Kind = iota
	// FullCone: a NAT that keeps the host's source port (masquerade) and
	// sends any new inbound UDP on its public address to the host (a
	// DNAT), as an endpoint-independent mapping and filtering NAT does.
	// Linux's masquerade alone is no cone NAT for hole punching: when the
	// peer's check arrives first, its conntrack entry takes the port and
	// the host's own packets leave on another.
	FullCone
	// Symmetric: a NAT with a random port for every new mapping
	// (masquerade fully-random): the address a STUN server saw is useless
	// to anyone else.
	Symmetric
	// TCP443Only: a NAT whose firewall drops all UDP and lets only TCP to
	// port 443 out, as many offices and hotels do.
	TCP443Only
)

func (k Kind) String() string {
	return [...]string{"open", "full-cone", "symmetric", "tcp443-only"}[k]
}

// Lab is a NAT lab; everything it made is removed when the test ends.
type Lab struct {
	ID     string       // starts every namespace's name
	Server netip.Addr   // the test namespace's address on the lab's internet
	Public netip.Prefix // the lab's internet: every public address in it
	inet   string       // the internet namespace
	link   string       // the test namespace's end of the link to inet
	sites  []*Site
	t      testing.TB
}

// Site is one network a peer sits in.
type Site struct {
	Kind   Kind
	NS     string     // the host's namespace, where peers run (ip netns exec)
	Addr   netip.Addr // the host's address: private behind a NAT
	Public netip.Addr // its address as the internet sees it (the router's)
	Router string     // the router's namespace ("" for an open site)
}

// NewLab builds the internet of a lab with prefix (at most 5 characters)
// starting every name, and sweeps what crashed runs with the same prefix
// left behind. It needs root, ip(8) and nft(8).
func NewLab(t testing.TB, prefix string) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatalf("netlab: nft: %v (Debian package nftables)", err)
	}
	if len(prefix) > 5 {
		t.Fatalf("netlab: prefix %q longer than 5 characters", prefix)
	}
	Sweep(prefix)
	n := seq.Add(1)
	id := fmt.Sprintf("%s%dx%d", prefix, os.Getpid(), n%10) // ≤ 14 characters
	// A /24 of 10.230.0.0/13 per lab, so that labs of concurrent test
	// processes route apart in the test namespace.
	block := (os.Getpid()*10 + int(n)) % 2048
	base := netip.AddrFrom4([4]byte{10, 230 + byte(block>>8), byte(block), 0})
	l := &Lab{ID: id, Public: netip.PrefixFrom(base, 24), inet: id + "i", link: id + "s", t: t}
	l.Server = l.at(1)
	t.Cleanup(l.Close)
	l.run(
		[]string{"netns", "add", l.inet},
		[]string{"-n", l.inet, "link", "set", "lo", "up"},
		[]string{"link", "add", l.link, "type", "veth", "peer", "name", "srv", "netns", l.inet},
		[]string{"addr", "add", netip.PrefixFrom(l.Server, 30).String(), "dev", l.link},
		[]string{"link", "set", l.link, "up"},
		[]string{"-n", l.inet, "addr", "add", netip.PrefixFrom(l.at(2), 30).String(), "dev", "srv"},
		[]string{"-n", l.inet, "link", "set", "srv", "up"},
		[]string{"-n", l.inet, "route", "add", "default", "via", l.Server.String()},
		[]string{"route", "add", l.Public.String(), "via", l.at(2).String(), "dev", l.link},
	)
	l.sysctl(l.inet, "net.ipv4.ip_forward=1")
	return l
}

// at is the lab's internet address base+off.
func (l *Lab) at(off int) netip.Addr {
	a := l.Public.Addr()
	for range off {
		a = a.Next()
	}
	return a
}

// AddSite adds a site of kind k, with its host up and routed.
func (l *Lab) AddSite(k Kind) *Site {
	l.t.Helper()
	i := len(l.sites) + 1 // site i has the internet's /30 at 4i
	s := &Site{Kind: k, NS: l.ID + "h" + strconv.Itoa(i)}
	l.sites = append(l.sites, s)
	gw, pub := l.at(4*i+1), l.at(4*i+2)
	s.Public = pub
	up := fmt.Sprintf("s%d", i) // inet's end of the link to the site
	var down string             // the namespace at the other end
	if k == Open {
		s.Addr, down = pub, s.NS
	} else {
		s.Router, down = l.ID+"r"+strconv.Itoa(i), l.ID+"r"+strconv.Itoa(i)
		s.Addr = netip.AddrFrom4([4]byte{192, 168, byte(i), 2})
	}
	l.run(
		[]string{"netns", "add", s.NS},
		[]string{"-n", s.NS, "link", "set", "lo", "up"},
	)
	if s.Router != "" {
		l.run([]string{"netns", "add", s.Router}, []string{"-n", s.Router, "link", "set", "lo", "up"})
	}
	l.run(
		[]string{"-n", l.inet, "link", "add", up, "type", "veth", "peer", "name", "wan", "netns", down},
		[]string{"-n", l.inet, "addr", "add", netip.PrefixFrom(gw, 30).String(), "dev", up},
		[]string{"-n", l.inet, "link", "set", up, "up"},
		[]string{"-n", down, "addr", "add", netip.PrefixFrom(pub, 30).String(), "dev", "wan"},
		[]string{"-n", down, "link", "set", "wan", "up"},
		[]string{"-n", down, "route", "add", "default", "via", gw.String()},
	)
	l.sysctl(s.NS, "net.ipv6.conf.all.disable_ipv6=1")
	if s.Router == "" {
		return s
	}
	lanGW := netip.AddrFrom4([4]byte{192, 168, byte(i), 1})
	l.run(
		[]string{"-n", s.Router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", s.NS},
		[]string{"-n", s.Router, "addr", "add", netip.PrefixFrom(lanGW, 24).String(), "dev", "lan"},
		[]string{"-n", s.Router, "link", "set", "lan", "up"},
		[]string{"-n", s.NS, "addr", "add", netip.PrefixFrom(s.Addr, 24).String(), "dev", "eth0"},
		[]string{"-n", s.NS, "link", "set", "eth0", "up"},
		[]string{"-n", s.NS, "route", "add", "default", "via", lanGW.String()},
	)
	l.sysctl(s.Router, "net.ipv4.ip_forward=1")
	l.nft(s.Router, s.rules())
	return s
}

// rules is the router's nftables ruleset.
func (s *Site) rules() string {
	nat := `table ip nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" masquerade` + map[bool]string{true: " fully-random"}[s.Kind == Symmetric] + `
	}
`
	if s.Kind == FullCone {
		nat += `	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wan" meta l4proto udp ct state new dnat to ` + s.Addr.String() + `
	}
`
	}
	nat += "}\n"
	if s.Kind != TCP443Only {
		return nat
	}
	return nat + `table inet firewall {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "lan" tcp dport 443 accept
	}
}
`
}

// Command wraps cmd so that it runs in the site's host namespace (see
// Phone.Command).
func (s *Site) Command(cmd *exec.Cmd) {
	path, _ := exec.LookPath("ip")
	cmd.Args = append([]string{"ip", "netns", "exec", s.NS, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = path
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// Close removes every namespace of the lab (which takes their links) and
// the test namespace's link. Safe to call twice.
func (l *Lab) Close() {
	for _, s := range l.sites {
		_ = ip("netns", "del", s.NS)
		if s.Router != "" {
			_ = ip("netns", "del", s.Router)
		}
	}
	_ = ip("netns", "del", l.inet)
	_ = ip("link", "del", l.link)
}

func (l *Lab) run(steps ...[]string) {
	l.t.Helper()
	for _, s := range steps {
		if err := ip(s...); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *Lab) sysctl(ns, kv string) {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", kv).CombinedOutput()
	if err != nil {
		l.t.Fatalf("netlab: %s: sysctl %s: %v: %s", ns, kv, err, strings.TrimSpace(string(out)))
	}
}

func (l *Lab) nft(ns, rules string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("netlab: %s: nft: %v: %s\n%s", ns, err, strings.TrimSpace(string(out)), rules)
	}
}
