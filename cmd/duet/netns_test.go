package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netnsPrefix starts the name of every namespace these tests make; a run
// that crashed is cleaned up by the next one (sweepNetns).
const netnsPrefix = "dc12g"

// ipCmd runs ip(8) with args.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// netnsAvailable says why namespaces cannot be made here, or "".
func netnsAvailable() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no ip command"
	}
	return ""
}

// sweepNetns removes namespaces left by an earlier run of these tests
// whose process is gone (every link of ours lives inside them, so they
// go with them).
func sweepNetns() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], netnsPrefix) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(strings.TrimPrefix(f[0], netnsPrefix), "%c%d", new(rune), &pid); err != nil {
			continue
		}
		if pid == os.Getpid() {
			continue
		}
		if err := exec.Command("kill", "-0", fmt.Sprint(pid)).Run(); err != nil { // its test process is gone
			ipCmd("netns", "del", f[0])
		}
	}
}

// twoUplinks is a phone and a server in two namespaces joined by two veth
// pairs, "wifi" and "cell": every address and link lives inside them. The
// server's address (Server, on its loopback) is routed from the phone over
// either uplink, wifi preferred; each uplink's own address is routed only
// over its own link.
type twoUplinks struct {
	Phone, Srv string // namespace names
	Server     string // the server's address, reachable from the phone
	links      [2]uplink
}

type uplink struct {
	name, peer string // phone side, server side
	addr, gw   string // phone's and server side's addresses (/24)
	metric     string
	up         bool
}

// newTwoUplinks builds the namespaces with only the wifi uplink up. They
// are removed when the test ends, whatever happens.
func newTwoUplinks(t *testing.T) *twoUplinks {
	t.Helper()
	if why := netnsAvailable(); why != "" {
		t.Skipf("network namespaces unavailable: %s", why)
	}
	sweepNetns()
	n := &twoUplinks{
		Phone:  fmt.Sprintf("%sp%d", netnsPrefix, os.Getpid()),
		Srv:    fmt.Sprintf("%ss%d", netnsPrefix, os.Getpid()),
		Server: "10.231.0.1",
		links: [2]uplink{
			{name: netnsPrefix + "-wifi", peer: netnsPrefix + "-wifi-s", addr: "10.231.1.2", gw: "10.231.1.1", metric: "100"},
			{name: netnsPrefix + "-cell", peer: netnsPrefix + "-cell-s", addr: "10.231.2.2", gw: "10.231.2.1", metric: "200"},
		},
	}
	t.Cleanup(func() {
		ipCmd("netns", "del", n.Phone)
		ipCmd("netns", "del", n.Srv)
	})
	steps := [][]string{
		{"netns", "add", n.Phone},
		{"netns", "add", n.Srv},
		{"-n", n.Phone, "link", "set", "lo", "up"},
		{"-n", n.Srv, "link", "set", "lo", "up"},
		{"-n", n.Srv, "addr", "add", n.Server + "/32", "dev", "lo"},
	}
	for _, l := range n.links {
		steps = append(steps,
			// Made inside the namespaces: no name of ours ever appears on
			// the host.
			[]string{"-n", n.Phone, "link", "add", l.name, "type", "veth", "peer", "name", l.peer, "netns", n.Srv},
			[]string{"-n", n.Srv, "addr", "add", l.gw + "/24", "dev", l.peer},
			[]string{"-n", n.Srv, "link", "set", l.peer, "up"},
		)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Fatal(err)
		}
	}
	n.Up(t, 0)
	return n
}

// Up gives the phone uplink i: link, address and its route to the server.
func (n *twoUplinks) Up(t *testing.T, i int) {
	t.Helper()
	l := &n.links[i]
	for _, s := range [][]string{
		{"-n", n.Phone, "link", "set", l.name, "up"},
		{"-n", n.Phone, "addr", "add", l.addr + "/24", "dev", l.name},
		{"-n", n.Phone, "route", "add", n.Server + "/32", "via", l.gw, "dev", l.name, "metric", l.metric},
	} {
		if err := ipCmd(s...); err != nil {
			t.Fatal(err)
		}
	}
	l.up = true
}

// Down takes uplink i away from the phone as a lost Wi-Fi does: the link
// goes down and its address (the DHCP lease) goes with it.
func (n *twoUplinks) Down(t *testing.T, i int) {
	t.Helper()
	l := &n.links[i]
	for _, s := range [][]string{
		{"-n", n.Phone, "link", "set", l.name, "down"},
		{"-n", n.Phone, "addr", "flush", "dev", l.name},
	} {
		if err := ipCmd(s...); err != nil {
			t.Fatal(err)
		}
	}
	l.up = false
}

// In prefixes argv to run it in namespace ns.
func In(ns string, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}
