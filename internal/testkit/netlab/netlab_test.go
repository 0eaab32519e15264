package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dialFrom connects from inside the phone's namespace to addr (bash's
// /dev/tcp, so that no helper binary is needed) and reports whether it
// got through within a second.
func dialFrom(p *Phone, addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", p.NS, "timeout", "1", "bash", "-c",
		fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port))
	return cmd.Run() == nil
}

// TestPhoneUplinks: the server address is reachable from the phone over
// either uplink, and over neither when both are down; each uplink's
// address goes out of its own link only.
func TestPhoneUplinks(t *testing.T) {
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	p := NewPhone(t, "dc12j")
	ln, err := net.Listen("tcp", netip.AddrPortFrom(p.Server, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	if !dialFrom(p, addr) {
		t.Fatal("server unreachable with both uplinks up")
	}
	for _, l := range p.Links {
		out, err := exec.Command("ip", "-n", p.NS, "route", "get", "192.0.2.200", "from", l.Addr.Addr().String()).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "dev "+l.Name) {
			t.Errorf("traffic from %s does not leave by %s: %s %v", l.Addr.Addr(), l.Name, out, err)
		}
	}
	if err := p.Down(p.Links[0]); err != nil {
		t.Fatal(err)
	}
	if !dialFrom(p, addr) {
		t.Fatal("server unreachable over the cell uplink alone")
	}
	if err := p.Down(p.Links[1]); err != nil {
		t.Fatal(err)
	}
	if dialFrom(p, addr) {
		t.Fatal("server reachable with both uplinks down")
	}
	if err := p.Up(p.Links[0]); err != nil {
		t.Fatal(err)
	}
	if !dialFrom(p, addr) {
		t.Fatal("server unreachable after the wifi uplink came back")
	}
}

// TestSweep removes what a dead process left and nothing of a live one.
func TestSweep(t *testing.T) {
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	const dead = "dc12j4194301x1" // no such pid (above the kernel's default pid_max)
	if err := ip("netns", "add", dead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ip("netns", "del", dead) })
	live := NewPhone(t, "dc12j")
	Sweep("dc12j")
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), dead) {
		t.Errorf("stale namespace %s not swept", dead)
	}
	if !strings.Contains(string(out), live.NS) {
		t.Errorf("live namespace %s swept", live.NS)
	}
}
