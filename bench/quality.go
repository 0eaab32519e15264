package bench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"
)

// The quality scenario holds --conns sockets in calls, as idle does, and
// has every one send a qualityReport (duet's SDKs' call-quality message)
// every --report-every, spread evenly over the interval: what reporting
// costs the server is its CPU and memory against an idle run's.

// reportTick is how often a worker's reporter wakes to send what is due.
const reportTick = 20 * time.Millisecond

// reports sends the peers' reports until stop and counts them in cn.done.
func reports(o *Options, pairs []*pair, stop <-chan struct{}, cn *counters) {
	var peers []*peer
	for _, pr := range pairs {
		peers = append(peers, pr.a, pr.b)
	}
	if len(peers) == 0 {
		return
	}
	seq := make([]int, len(peers))
	perTick := float64(len(peers)) * reportTick.Seconds() / o.ReportEvery.Seconds()
	t := time.NewTicker(reportTick)
	defer t.Stop()
	var due float64
	next := 0
	var buf []byte
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for due += perTick; due >= 1; due-- {
			i := next
			next = (next + 1) % len(peers)
			seq[i]++
			buf = appendReport(buf[:0], peers[i].room, seq[i])
			if err := peers[i].c.send(buf); err != nil {
				if !isClosing(err) {
					cn.errs.add(fmt.Errorf("report: %w", err))
				}
				continue
			}
			cn.done.Add(1)
		}
	}
}

// appendReport is a report as duet.js sends one: plausible, varying
// figures of a video call over a host pair.
func appendReport(dst []byte, room string, seq int) []byte {
	r := rand.Float64
	return fmt.Appendf(dst, `{"command":"qualityReport","streamId":%q,"seq":%d,"rtt":%.3f,"jitter":%.3f,"loss":%.3f,`+
		`"bitrateIn":%.3f,"bitrateOut":%.3f,"framesDecoded":%d,"framesDropped":%d,"freezes":%d,`+
		`"localCandidate":"host","remoteCandidate":"srflx","transport":"udp","iceRestarts":0,"resumes":0,"setupMs":%d}`,
		room, seq, 20+60*r(), 2+10*r(), 2*r()*r(), 800+400*r(), 800+400*r(), 150*seq, seq/10, seq/50, 400+rand.IntN(600))
}

// cpuOf reads a process's CPU time (user and system) from /proc.
func cpuOf(pid int) (time.Duration, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, err
	}
	// The command (field 2) may hold spaces: count fields after its ")".
	_, rest, ok := strings.Cut(line, ") ")
	fs := strings.Fields(rest)
	if !ok || len(fs) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(fs[11], 10, 64)
	stime, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: unexpected format", pid)
	}
	// Linux counts them in USER_HZ, which is 100 on every architecture
	// Go runs on.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
