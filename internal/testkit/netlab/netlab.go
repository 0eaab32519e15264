// Package netlab builds small networks out of Linux network namespaces and
// veth pairs for tests: a "phone" namespace with two uplinks (think Wi-Fi
// and cellular) to the host, where a test server listens on an address
// reachable over either. Taking an uplink down (link and address, as a lost
// Wi-Fi association and DHCP lease do) is a real network change for any
// process running inside the namespace, such as Chromium.
//
// It needs root and the ip(8) command. Every namespace and link it makes is
// named with the caller's prefix and the process id, removed when the test
// ends, and swept at the next start if a crashed run left it behind.
package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// ErrUnavailable means this machine cannot build namespaces (not root, no
// ip command).
var ErrUnavailable = errors.New("netlab: network namespaces unavailable")

var seq atomic.Uint32

// Uplink is one of a phone's two links to the host.
type Uplink struct {
	Name    string       // interface name inside the phone's namespace
	Host    string       // the host-side end of the veth pair
	Addr    netip.Prefix // the phone's address on this link
	Gateway netip.Addr   // the host side's address
	table   int          // the policy routing table for Addr
	metric  int          // of this link's default route
}

// Phone is a namespace with two uplinks to the host. Links[0] ("wifi")
// sorts first by interface name, which is the one Chromium prefers for
// media when both are up.
type Phone struct {
	NS     string     // namespace name (for ip netns exec)
	Server netip.Addr // a host address reachable from the phone over either uplink
	Links  [2]*Uplink
	dummy  string // host interface that holds Server (one end of a host-only veth pair)
}

// Available reports whether namespaces can be made here, with the reason
// when not.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root", ErrUnavailable)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// NewPhone builds a phone namespace and its two uplinks, both up. prefix
// (at most 5 characters, e.g. a task's "dc12j") starts every name it
// makes. Everything is removed when t ends.
func NewPhone(t testing.TB, prefix string) *Phone {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	if len(prefix) > 5 {
		t.Fatalf("netlab: prefix %q longer than 5 characters", prefix)
	}
	Sweep(prefix)
	n := seq.Add(1)
	id := fmt.Sprintf("%s%dx%d", prefix, os.Getpid(), n%10) // ≤ 14 characters
	block := (os.Getpid()*10 + int(n)) % 16384
	base := netip.AddrFrom4([4]byte{10, 212 + byte(block>>11), byte(block >> 3), byte(block&7) << 5})
	p := &Phone{
		NS:     id,
		Server: netip.AddrFrom4([4]byte{10, 220 + byte(block>>14), byte(block >> 6), byte(block&63)<<2 | 1}),
		dummy:  id + "s",
	}
	at := func(off int) netip.Addr {
		a := base
		for range off {
			a = a.Next()
		}
		return a
	}
	p.Links[0] = &Uplink{Name: prefix + "0wifi", Host: id + "w", Addr: netip.PrefixFrom(at(2), 30), Gateway: at(1), table: 100, metric: 100}
	p.Links[1] = &Uplink{Name: prefix + "1cell", Host: id + "c", Addr: netip.PrefixFrom(at(6), 30), Gateway: at(5), table: 101, metric: 200}
	t.Cleanup(func() { p.Close() })

	steps := [][]string{
		{"netns", "add", p.NS},
		{"-n", p.NS, "link", "set", "lo", "up"},
		// The server's address sits on a host-only veth pair (no dummy
		// module on every kernel): local to the host, on neither uplink.
		{"link", "add", p.dummy, "type", "veth", "peer", "name", id + "t"},
		{"addr", "add", p.Server.String() + "/32", "dev", p.dummy},
		{"link", "set", id + "t", "up"},
		{"link", "set", p.dummy, "up"},
	}
	for _, l := range p.Links {
		steps = append(steps,
			[]string{"link", "add", l.Host, "type", "veth", "peer", "name", l.Name, "netns", p.NS},
			[]string{"addr", "add", netip.PrefixFrom(l.Gateway, 30).String(), "dev", l.Host},
			[]string{"link", "set", l.Host, "up"},
		)
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatal(err)
		}
	}
	// Only IPv4: link-local IPv6 addresses would be more candidates that
	// go down with their link but are never routed anyway.
	for _, l := range p.Links {
		if err := p.sysctl("net.ipv6.conf." + l.Name + ".disable_ipv6=1"); err != nil {
			t.Fatal(err)
		}
		if err := p.Up(l); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Up brings an uplink up with its address, its default route and a policy
// rule that sends traffic from its address out of this link only.
func (p *Phone) Up(l *Uplink) error {
	tbl := strconv.Itoa(l.table)
	for _, s := range [][]string{
		{"link", "set", l.Name, "up"},
		{"addr", "replace", l.Addr.String(), "dev", l.Name},
		{"route", "replace", "default", "via", l.Gateway.String(), "dev", l.Name, "table", tbl},
		{"route", "replace", "default", "via", l.Gateway.String(), "dev", l.Name, "metric", strconv.Itoa(l.metric)},
	} {
		if err := ip(append([]string{"-n", p.NS}, s...)...); err != nil {
			return err
		}
	}
	// ip rule add is not idempotent: remove a leftover first.
	_ = ip("-n", p.NS, "rule", "del", "from", l.Addr.Addr().String(), "table", tbl)
	return ip("-n", p.NS, "rule", "add", "from", l.Addr.Addr().String(), "table", tbl)
}

// Down takes an uplink away the way a phone loses Wi-Fi: its address goes
// (the lease is gone) and the link goes down. Sockets bound to the address
// can no longer send.
func (p *Phone) Down(l *Uplink) error {
	_ = ip("-n", p.NS, "rule", "del", "from", l.Addr.Addr().String(), "table", strconv.Itoa(l.table))
	if err := ip("-n", p.NS, "addr", "flush", "dev", l.Name); err != nil {
		return err
	}
	return ip("-n", p.NS, "link", "set", l.Name, "down")
}

// Command wraps cmd so that it runs inside the phone's namespace (through
// ip netns exec, which keeps the command's open files, such as a DevTools
// pipe). The process gets SIGKILL if the test process dies.
func (p *Phone) Command(cmd *exec.Cmd) {
	path, _ := exec.LookPath("ip")
	args := append([]string{"ip", "netns", "exec", p.NS, cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = path, args
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// Close removes the namespace (which destroys the uplinks' veth pairs) and
// the host-only pair that holds Server. Safe to call twice.
func (p *Phone) Close() {
	_ = ip("netns", "del", p.NS)
	_ = ip("link", "del", p.dummy)
}

func (p *Phone) sysctl(kv string) error {
	out, err := exec.Command("ip", "netns", "exec", p.NS, "sysctl", "-qw", kv).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: sysctl %s: %v: %s", kv, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Sweep removes namespaces and host links named with prefix whose process
// is gone: what a run that crashed before its cleanup left behind.
func Sweep(prefix string) {
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			if stale(prefix, name) {
				_ = ip("netns", "del", name)
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if stale(prefix, name) {
				_ = ip("link", "del", name)
			}
		}
	}
}

// stale reports whether name is prefix + pid + "x"... of a dead process.
func stale(prefix, name string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	digits, _, ok := strings.Cut(rest, "x")
	pid, err := strconv.Atoi(digits)
	if !ok || err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
