package server

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/poison"
	"github.com/duet-rtc/duet/quality"
)

// Quality reports (docs/protocol.md, "Call quality"): duet's SDKs send
// qualityReport every few seconds of a call. The server grades it, keeps
// it for live views and the call's record (package quality), counts it in
// the metrics and relays it to the partner as a quality frame. A report
// that is too large, malformed, too frequent or not from a call is
// dropped and counted, and nothing else happens: it never costs the
// socket (a flood of reports is not held against the message rate limit,
// which would close it).

// Report rate: reportBurst reports at once, one per reportEvery sustained
// (the SDKs send one every few seconds).
const (
	reportEvery = time.Second
	reportBurst = 3
)

// reportPrefix starts a qualityReport as duet's SDKs write it. Such a
// frame is recognised before the message rate limit; a report written in
// another order is found by the ordinary dispatch.
var reportPrefix = []byte(`{"command":"qualityReport"`)

// qualityState is a socket's part in quality reports.
type qualityState struct {
	reported atomic.Bool // it sent a report: its SDK reads quality frames

	mu      sync.Mutex
	session string // the session of the join in progress, for Seated

	// Owned by the reader: a token bucket of reports.
	tokens float64
	at     time.Time
}

var _ hub.Seated = (*conn)(nil)

// Seated implements hub.Seated: the socket took a seat in k.
func (c *conn) Seated(k hub.Key, member string, _ bool) {
	c.q.mu.Lock()
	session := c.q.session
	c.q.mu.Unlock()
	c.srv.quality.Seat(k, c.id, k.App, member, session)
}

// joining tells Seated the session of the join about to be made.
func (c *conn) joining(session string) {
	c.q.mu.Lock()
	c.q.session = session
	c.q.mu.Unlock()
}

// isReport reports whether a frame starts as an SDK's quality report.
func isReport(data []byte) bool { return bytes.HasPrefix(data, reportPrefix) }

// report takes one qualityReport frame.
func (c *conn) report(data []byte, now time.Time) {
	t := c.srv.quality
	if len(data) > quality.MaxReportBytes {
		t.Metrics().Dropped(quality.DropTooLarge)
		return
	}
	if !c.allowReport(now) {
		t.Metrics().Dropped(quality.DropRate)
		return
	}
	r, stream, err := quality.Decode(data)
	if err != nil {
		t.Metrics().Dropped(quality.DropInvalid)
		return
	}
	i := slices.Index(c.rooms, stream)
	if i < 0 {
		t.Metrics().Dropped(quality.DropNotInCall)
		return
	}
	k := hub.Key{App: c.app, Stream: c.rooms[i]}
	st, ok := t.Report(k, c.id, r)
	if !ok {
		t.Metrics().Dropped(quality.DropNotInCall)
		return
	}
	c.q.reported.Store(true)
	buf := framePool.Get().(*[]byte)
	*buf = quality.AppendFrame((*buf)[:0], t.Origin(), k.Stream, &st)
	// No partner (it left meanwhile) is no error: the report counted.
	_ = c.srv.rooms.Relay(c, k, hub.Lend(*buf))
	poison.Fill(*buf) // the frame was lent for the call
	framePool.Put(buf)
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 768); return &b }}

// allowReport is the report rate limit.
func (c *conn) allowReport(now time.Time) bool {
	q := &c.q
	if q.at.IsZero() {
		q.tokens = reportBurst
	} else {
		q.tokens = min(reportBurst, q.tokens+now.Sub(q.at).Seconds()/reportEvery.Seconds())
	}
	q.at = now
	if q.tokens < 1 {
		return false
	}
	q.tokens--
	return true
}

// Send implements hub.Conn. A quality frame from another node is kept as
// the partner's state (for this node's records of the call) and goes to
// the socket only if its SDK reads them: one that sends reports. The Ant
// Media SDKs never see one.
func (c *conn) Send(frame []byte) bool {
	origin, ok := quality.IsFrame(frame)
	if !ok {
		return c.Conn.Send(frame)
	}
	t := c.srv.quality
	if string(origin) != t.Origin() {
		if st, stream, err := quality.DecodeFrame(frame, time.Now()); err == nil {
			t.Partner(hub.Key{App: c.app, Stream: stream}, st)
		}
	}
	if !c.q.reported.Load() {
		return true
	}
	return c.Conn.Send(frame)
}

// leftRoom tells the tracker that the socket is no longer in room id.
func (c *conn) leftRoom(id string) {
	c.srv.quality.Leave(hub.Key{App: c.app, Stream: id}, c.id)
}
