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

// Isolated is a namespace of its own with loopback and one "LAN" address on
// a veth pair whose both ends are inside it: programs there can listen on
// fixed ports (localhost:5080 as a reader of the docs would) without
// meeting anything else on the machine, and see a network address that is
// not loopback, as on a laptop. Nothing leaves the namespace.
type Isolated struct {
	NS  string
	LAN netip.Addr
}

// NewIsolated makes an isolated namespace named with prefix (at most 5
// characters); it is removed when t ends, and swept at the next start if
// a crashed run left it.
func NewIsolated(t testing.TB, prefix string) *Isolated {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	if len(prefix) > 5 {
		t.Fatalf("netlab: prefix %q longer than 5 characters", prefix)
	}
	Sweep(prefix)
	n := seq.Add(1)
	id := fmt.Sprintf("%s%dx%d", prefix, os.Getpid(), n%10)
	block := (os.Getpid()*10 + int(n)) % 16384
	in := &Isolated{NS: id, LAN: netip.AddrFrom4([4]byte{10, 230, byte(block >> 6), byte(block&63)<<2 | 1})}
	t.Cleanup(func() {
		in.KillAll()
		_ = ip("netns", "del", in.NS)
	})
	for _, s := range [][]string{
		{"netns", "add", in.NS},
		{"-n", in.NS, "link", "set", "lo", "up"},
		{"-n", in.NS, "link", "add", "lan0", "type", "veth", "peer", "name", "lan1"},
		{"-n", in.NS, "addr", "add", in.LAN.String() + "/30", "dev", "lan0"},
		{"-n", in.NS, "link", "set", "lan1", "up"},
		{"-n", in.NS, "link", "set", "lan0", "up"},
	} {
		if err := ip(s...); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// Command wraps cmd so that it runs inside the namespace (ip netns exec
// keeps its open files). It gets SIGKILL if the test process dies.
func (in *Isolated) Command(cmd *exec.Cmd) {
	path, _ := exec.LookPath("ip")
	args := append([]string{"ip", "netns", "exec", in.NS, cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = path, args
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// KillAll sends SIGKILL to every process in the namespace: what the test
// started there, including servers that detached from their shell.
func (in *Isolated) KillAll() {
	out, err := exec.Command("ip", "netns", "pids", in.NS).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
