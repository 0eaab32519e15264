package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// handshakes is the handshake scenario: --parallel dialers per worker
// connect, complete a TLS handshake and close, back to back. It counts
// handshakes completed in the measured window, how many resumed a session
// (with --tls-resume), and their latency from connect to the end of the
// handshake.
func handshakes(ctx context.Context, o *Options, src net.IP, start time.Time, cn *counters) (*hist, int64, int64) {
	win := window{start.Add(o.Warmup), start.Add(o.Warmup + o.Duration)}
	ctx, cancel := context.WithDeadline(ctx, win.end)
	defer cancel()
	type tally struct {
		h          *hist
		n, resumed int64
	}
	tallies := make([]tally, o.Parallel)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := tally{h: newHist()}
			defer func() { tallies[i] = t }()
			// The deadline is checked by the clock: ctx's timer may fire
			// late on a busy machine, and a dial past it fails at once.
			for k := 0; ctx.Err() == nil && time.Now().Before(win.end); k++ {
				u := o.URLs[(i+k)%len(o.URLs)]
				t0 := time.Now()
				res, err := handshakeOnce(ctx, u, src, o.tlsConf)
				t1 := time.Now()
				if err != nil {
					if ctx.Err() == nil && t1.Before(win.end) {
						cn.errs.add(err)
					}
					continue
				}
				if win.has(t1) {
					t.h.record(t1.Sub(t0))
					t.n++
					if res {
						t.resumed++
					}
					cn.done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	h := newHist()
	var n, resumed int64
	for _, t := range tallies {
		h.merge(t.h)
		n += t.n
		resumed += t.resumed
	}
	return h, n, resumed
}

// handshakeOnce connects to rawURL's host, completes a TLS handshake and
// closes. It reports whether the handshake resumed a session.
func handshakeOnce(ctx context.Context, rawURL string, src net.IP, tc *tls.Config) (bool, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false, err
	}
	if u.Scheme != "wss" && u.Scheme != "https" {
		return false, fmt.Errorf("bench: the handshake scenario needs a wss:// or https:// URL, got %q", rawURL)
	}
	d := net.Dialer{}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return false, err
	}
	defer nc.Close()
	c := tls.Client(nc, clientTLS(tc, u.Hostname()))
	if err := c.HandshakeContext(ctx); err != nil {
		return false, fmt.Errorf("bench: TLS handshake: %w", err)
	}
	resumed := c.ConnectionState().DidResume
	if !resumed && tc != nil && tc.ClientSessionCache != nil {
		// A TLS 1.3 session ticket comes after the handshake (OpenSSL
		// sends it once the client's Finished is in): a read takes it in
		// for the handshakes that follow.
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		c.Read(make([]byte, 1))
	}
	// No close_notify: a client that has what it came for just goes.
	return resumed, nil
}

// cpuSeconds is the CPU time (user and system) of the processes pids and
// of their descendants, from /proc; -1 when a process cannot be read.
func cpuSeconds(pids []int) float64 {
	if len(pids) == 0 {
		return -1
	}
	var ticks int64
	seen := map[int]bool{}
	var walk func(pid int) bool
	walk = func(pid int) bool {
		if seen[pid] {
			return true
		}
		seen[pid] = true
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		// The command name may hold spaces; the fields after it do not.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			return false
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
		for _, child := range children(pid) {
			walk(child)
		}
		return true
	}
	for _, p := range pids {
		if !walk(p) {
			return -1
		}
	}
	return float64(ticks) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// children lists pid's child processes, from every one of its threads.
func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		sc.Split(bufio.ScanWords)
		for sc.Scan() {
			if n, err := strconv.Atoi(sc.Text()); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
