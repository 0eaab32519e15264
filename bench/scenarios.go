package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// counters are a worker's live figures, read by its progress reporter.
type counters struct {
	connected atomic.Int64
	done      atomic.Int64 // messages received (relay) or setups completed (setup)
	errs      errCount
}

// hold keeps idle pairs' sockets read (answering pings, noticing closes)
// until stop is closed. PeerJS sockets get the HEARTBEAT its server
// expects.
func hold(d dialect, pairs []*pair, stop <-chan struct{}, cn *counters) {
	var wg sync.WaitGroup
	var stopping atomic.Bool
	for _, pr := range pairs {
		for _, pe := range []*peer{pr.a, pr.b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, err := pe.c.read(); err != nil {
						if !stopping.Load() {
							cn.errs.add(fmt.Errorf("socket lost while idle: %w", err))
						}
						return
					}
				}
			}()
		}
	}
	if _, ok := d.(peerjsDialect); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(20 * time.Second)
			defer t.Stop()
			hb := []byte(`{"type":"HEARTBEAT"}`)
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					for _, pr := range pairs {
						_ = pr.a.c.send(hb)
						_ = pr.b.c.send(hb)
					}
				}
			}
		}()
	}
	<-stop
	stopping.Store(true)
	closeAll(pairs)
	wg.Wait()
}

func closeAll(pairs []*pair) {
	var wg sync.WaitGroup
	for i := 0; i < len(pairs); i += 256 {
		j := min(i+256, len(pairs))
		wg.Add(1)
		go func(ps []*pair) {
			defer wg.Done()
			for _, p := range ps {
				p.close()
			}
		}(pairs[i:j])
	}
	wg.Wait()
}

// window is a measurement interval.
type window struct{ start, end time.Time }

func (w window) has(t time.Time) bool { return !t.Before(w.start) && t.Before(w.end) }

// direction is one way of a pair in the relay scenario.
type direction struct {
	from, to *peer
	inflight atomic.Int64
	wake     chan struct{}
}

// relay has every peer send candidates to its partner as fast as its
// window (messages sent and not yet received) and the optional rate allow,
// and records each message's one-way latency from the send time it
// carries.
func relay(o *Options, d dialect, pairs []*pair, start time.Time, cn *counters) (*hist, int64, int64) {
	win := window{start.Add(o.Warmup), start.Add(o.Warmup + o.Duration)}
	done := make(chan struct{})
	timer := time.AfterFunc(time.Until(win.end), func() { close(done) })
	defer timer.Stop()
	perSender := 0.0
	if o.Rate > 0 {
		perSender = o.Rate / float64(2*o.pairs()) // the rate is for the whole run, all workers
	}
	var dirs []*direction
	for _, pr := range pairs {
		dirs = append(dirs, &direction{from: pr.a, to: pr.b, wake: make(chan struct{}, 1)},
			&direction{from: pr.b, to: pr.a, wake: make(chan struct{}, 1)})
	}
	type tally struct {
		h        *hist
		n, bytes int64
	}
	tallies := make([]tally, len(dirs))
	var senders, readers sync.WaitGroup
	for i, dir := range dirs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			t := tally{h: newHist()}
			defer func() { tallies[i] = t }()
			for {
				msg, err := dir.to.c.read()
				if err != nil {
					if !isClosing(err) && win.end.After(time.Now()) {
						cn.errs.add(err)
					}
					return
				}
				now := time.Now()
				k := bytes.LastIndexByte(msg, '~')
				if k < 0 || len(msg)-k < 20 {
					if d.classify(msg) == kError {
						cn.errs.add(fmt.Errorf("server error: %.200s", msg))
					}
					continue
				}
				sent, _ := strconv.ParseInt(string(msg[k+1:k+20]), 10, 64)
				dir.inflight.Add(-1)
				select {
				case dir.wake <- struct{}{}:
				default:
				}
				if win.has(now) {
					t.h.record(now.Sub(time.Unix(0, sent)))
					t.n++
					t.bytes += int64(len(msg))
					cn.done.Add(1)
				}
			}
		}()
		senders.Add(1)
		go func() {
			defer senders.Done()
			var scratch []byte
			tail := make([]byte, 0, 20)
			sent := int64(0)
			for {
				now := time.Now()
				if !now.Before(win.end) {
					return
				}
				n := int64(o.Window) - dir.inflight.Load()
				if perSender > 0 {
					due := int64(now.Sub(start).Seconds()*perSender) + 1 - sent
					if due < n {
						n = due
					}
					if n <= 0 && dir.inflight.Load() < int64(o.Window) {
						// Ahead of the rate: sleep until the next message is
						// due, but at least a tick, and send all that is due
						// then in one write. Waking per message would make the
						// generator, not the server, the bottleneck.
						wait := max(time.Duration(float64(time.Second)/perSender), o.Tick)
						select {
						case <-done:
							return
						case <-time.After(wait):
						}
						continue
					}
				}
				if n <= 0 {
					select {
					case <-done:
						return
					case <-dir.wake:
					}
					continue
				}
				dir.inflight.Add(n)
				tail = append(tail[:0], '~')
				tail = strconv.AppendInt(tail, time.Now().UnixNano(), 10)
				var err error
				scratch, err = dir.from.c.sendBatch(int(n), scratch, func(dst []byte, j int) []byte {
					return d.appendCandidate(dst, dir.from, int(sent)+j, tail)
				})
				if err != nil {
					cn.errs.add(err)
					return
				}
				sent += n
			}
		}()
	}
	senders.Wait()
	<-done
	// Let messages still in flight arrive, then end the readers.
	drain := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(drain) {
		var left int64
		for _, dir := range dirs {
			left += max(dir.inflight.Load(), 0)
		}
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	closeAll(pairs)
	readers.Wait()
	h := newHist()
	var n, b int64
	for _, t := range tallies {
		h.merge(t.h)
		n += t.n
		b += t.bytes
	}
	return h, n, b
}

// setup runs call setups back to back on every pair: join (duet), offer,
// answer, four candidates each way, leave. Latency runs from the first
// message of a setup to the last candidate's arrival.
func setup(ctx context.Context, o *Options, d dialect, pairs []*pair, start time.Time, cn *counters, run string, worker int) (*hist, int64) {
	win := window{start.Add(o.Warmup), start.Add(o.Warmup + o.Duration)}
	offer, answer := fakeSDP("offer", o.SDPBytes), fakeSDP("answer", o.SDPBytes)
	hs := make([]*hist, len(pairs))
	counts := make([]int64, len(pairs))
	var wg sync.WaitGroup
	for i, pr := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHist()
			defer func() { hs[i] = h }()
			var buf []byte
			cands := make([][]byte, 4)
			for cycle := 0; time.Now().Before(win.end) && ctx.Err() == nil; cycle++ {
				t0 := time.Now()
				var lat time.Duration
				err := withDeadline(ctx, pr.a.c, func() error {
					var err error
					if buf, err = pr.join(ctx, d, fmt.Sprintf("%s-w%d-p%d-c%d", run, worker, pr.idx, cycle), buf); err != nil {
						return err
					}
					if err := exchange(d, pr.a, pr.b, d.appendConfig(buf[:0], pr.a, "offer", offer), kConfig); err != nil {
						return err
					}
					if err := exchange(d, pr.b, pr.a, d.appendConfig(buf[:0], pr.b, "answer", answer), kConfig); err != nil {
						return err
					}
					for _, s := range [][2]*peer{{pr.a, pr.b}, {pr.b, pr.a}} {
						for j := range cands {
							cands[j] = d.appendCandidate(cands[j][:0], s[0], j, nil)
						}
						if err := s[0].c.send(cands...); err != nil {
							return err
						}
					}
					for _, p := range []*peer{pr.b, pr.a} {
						for range cands {
							if _, err := expect(d, p.c, kCandidate); err != nil {
								return err
							}
						}
					}
					lat = time.Since(t0)
					if d.rooms() {
						for _, p := range []*peer{pr.a, pr.b} {
							if err := p.c.send(d.appendLeave(buf[:0], p)); err != nil {
								return err
							}
						}
						for _, p := range []*peer{pr.a, pr.b} {
							if _, err := expect(d, p.c, kLeaved, kStop); err != nil {
								return err
							}
						}
						return nil
					}
					return exchange(d, pr.a, pr.b, d.appendLeave(buf[:0], pr.a), kLeaved)
				}, pr.b.c)
				if err != nil {
					if ctx.Err() == nil {
						cn.errs.add(err)
					}
					return
				}
				if win.has(time.Now()) {
					h.record(lat)
					counts[i]++
					cn.done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	h := newHist()
	var n int64
	for i := range pairs {
		h.merge(hs[i])
		n += counts[i]
	}
	return h, n
}

// exchange sends msg from one peer and waits for the other to receive it.
func exchange(d dialect, from, to *peer, msg []byte, want kind) error {
	if err := from.c.send(msg); err != nil {
		return err
	}
	_, err := expect(d, to.c, want)
	return err
}

// fakeSDP returns a JSON-escaped SDP of about size bytes shaped like a
// browser's: audio, video and data sections, codecs, and ssrc lines.
func fakeSDP(typ string, size int) string {
	var b strings.Builder
	line := func(s string) { b.WriteString(s); b.WriteString(`\r\n`) }
	line("v=0")
	line("o=- 4611731400430051336 2 IN IP4 127.0.0.1")
	line("s=-")
	line("t=0 0")
	line("a=group:BUNDLE 0 1 2")
	line("a=extmap-allow-mixed")
	line("a=msid-semantic: WMS stream")
	line("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126")
	line("c=IN IP4 0.0.0.0")
	line("a=rtcp:9 IN IP4 0.0.0.0")
	line("a=ice-ufrag:sT4e")
	line("a=ice-pwd:Qb9nWz3XgJ1pC7vKd2LmYt5R")
	line("a=ice-options:trickle")
	line("a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08")
	if typ == "offer" {
		line("a=setup:actpass")
	} else {
		line("a=setup:active")
	}
	line("a=mid:0")
	line("a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level")
	line("a=sendrecv")
	line("a=msid:stream audio0")
	line("a=rtcp-mux")
	line("a=rtpmap:111 opus/48000/2")
	line("a=rtcp-fb:111 transport-cc")
	line("a=fmtp:111 minptime=10;useinbandfec=1")
	line("m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102 103 104 105 106 107 108 109 127 125")
	line("c=IN IP4 0.0.0.0")
	line("a=mid:1")
	codecs := []string{"VP8", "rtx", "VP9", "rtx", "H264", "rtx", "H264", "rtx", "AV1", "rtx", "red", "rtx", "ulpfec"}
	for i, c := range codecs {
		line(fmt.Sprintf("a=rtpmap:%d %s/90000", 96+i, c))
		line(fmt.Sprintf("a=rtcp-fb:%d goog-remb", 96+i))
		line(fmt.Sprintf("a=rtcp-fb:%d transport-cc", 96+i))
		line(fmt.Sprintf("a=rtcp-fb:%d nack pli", 96+i))
	}
	line("m=application 9 UDP/DTLS/SCTP webrtc-datachannel")
	line("a=mid:2")
	line("a=sctp-port:5000")
	for i := 0; b.Len() < size-80; i++ {
		line(fmt.Sprintf("a=ssrc:%d msid:stream video%d", 1500000000+i, i))
	}
	return b.String()
}
