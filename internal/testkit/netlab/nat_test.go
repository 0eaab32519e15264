package netlab

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain runs this test binary as a probe inside a site when asked to
// (see probe): the lab's hosts need a program to send from, and this one
// is at hand.
func TestMain(m *testing.M) {
	if args := os.Getenv("NETLAB_PROBE"); args != "" {
		probe(strings.Fields(args))
		return
	}
	os.Exit(m.Run())
}

// probe, run in a site, sends "hi" over UDP from one local port to each
// server address in args[1:] and prints what comes back to that port in
// the next args[0] (a duration): "from ADDR: TEXT" lines. A TCP address
// after "tcp" is dialled instead: "tcp ADDR: ok" or the error.
func probe(args []string) {
	wait, _ := time.ParseDuration(args[0])
	if len(args) > 2 && args[1] == "tcp" {
		c, err := net.DialTimeout("tcp", args[2], wait)
		if err == nil {
			c.Close()
			fmt.Printf("tcp %s: ok\n", args[2])
		} else {
			fmt.Printf("tcp %s: %v\n", args[2], err)
		}
		return
	}
	pc, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("local %s\n", pc.LocalAddr())
	for _, a := range args[1:] {
		ua, _ := net.ResolveUDPAddr("udp4", a)
		pc.WriteTo([]byte("hi"), ua)
	}
	pc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 256)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		fmt.Printf("from %s: %s\n", from, buf[:n])
	}
}

// startProbe runs the probe in site s; the returned function waits for
// its end and returns its output lines.
func startProbe(t *testing.T, s *Site, args ...string) func() []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETLAB_PROBE="+strings.Join(args, " "))
	s.Command(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		var lines []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		cmd.Wait()
		return lines
	}
}

// echo is a UDP socket of the server that reports who sent to it.
type echo struct {
	pc   net.PacketConn
	seen chan netip.AddrPort
}

func newEcho(t *testing.T, l *Lab) *echo {
	t.Helper()
	pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(l.Server, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	e := &echo{pc: pc, seen: make(chan netip.AddrPort, 16)}
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			e.seen <- from.(*net.UDPAddr).AddrPort()
		}
	}()
	return e
}

func (e *echo) addr() string { return e.pc.LocalAddr().String() }

func (e *echo) next(t *testing.T) netip.AddrPort {
	t.Helper()
	select {
	case a := <-e.seen:
		return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	case <-time.After(10 * time.Second):
		t.Fatal("the server got nothing")
		return netip.AddrPort{}
	}
}

// TestNATKinds: each kind of site behaves as its name says, seen from the
// server: an open host is seen at its own address; a full-cone NAT maps
// one local port to one public port, the same, for every destination and
// lets anyone reach it there; a symmetric NAT maps each destination to a
// port of its own; the TCP-443-only network lets out TCP to 443 and
// nothing else.
func TestNATKinds(t *testing.T) {
	l := NewLab(t, "dn21t")
	open, cone, sym, tcp := l.AddSite(Open), l.AddSite(FullCone), l.AddSite(Symmetric), l.AddSite(TCP443Only)
	e1, e2, e3 := newEcho(t, l), newEcho(t, l), newEcho(t, l)

	startProbe(t, open, "100ms", e1.addr())()
	if got := e1.next(t); got.Addr() != open.Addr || open.Addr != open.Public {
		t.Errorf("open site seen at %v, its address %v", got, open.Addr)
	}

	done := startProbe(t, cone, "3s", e1.addr(), e2.addr())
	a1, a2 := e1.next(t), e2.next(t)
	e3.pc.WriteTo([]byte("unsolicited"), net.UDPAddrFromAddrPort(a1))
	lines := done()
	if a1 != a2 || a1.Addr() != cone.Public {
		t.Errorf("full-cone NAT mapped to %v and %v, want one mapping on %v", a1, a2, cone.Public)
	}
	if len(lines) == 0 || !strings.HasSuffix(lines[0], fmt.Sprintf(":%d", a1.Port())) {
		t.Errorf("full-cone NAT changed the port: %v, mapped %v", lines, a1)
	}
	if want := "from " + e3.addr() + ": unsolicited"; !contains(lines, want) {
		t.Errorf("a server the host never wrote to did not get through the full-cone NAT: %v", lines)
	}

	done = startProbe(t, sym, "100ms", e1.addr(), e2.addr())
	a1, a2 = e1.next(t), e2.next(t)
	done()
	if a1.Addr() != sym.Public || a2.Addr() != sym.Public || a1.Port() == a2.Port() {
		t.Errorf("symmetric NAT mapped to %v and %v, want two ports on %v", a1, a2, sym.Public)
	}

	ln, err := net.Listen("tcp", netip.AddrPortFrom(l.Server, 443).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other, err := net.Listen("tcp", netip.AddrPortFrom(l.Server, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, l := range []net.Listener{ln, other} {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	if out := startProbe(t, tcp, "3s", "tcp", ln.Addr().String())(); !contains(out, "tcp "+ln.Addr().String()+": ok") {
		t.Errorf("TCP to 443 from the TCP-443-only site: %v", out)
	}
	if out := startProbe(t, tcp, "1s", "tcp", other.Addr().String())(); contains(out, "tcp "+other.Addr().String()+": ok") {
		t.Errorf("TCP to another port got out of the TCP-443-only site: %v", out)
	}
	// UDP: the server hears nothing, and the probe nothing back, while the
	// same probe from the open site gets through (the control).
	startProbe(t, tcp, "1s", e2.addr())()
	startProbe(t, open, "100ms", e2.addr())()
	if got := e2.next(t); got.Addr() != open.Addr {
		t.Errorf("UDP from the TCP-443-only site reached the server (from %v)", got)
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
