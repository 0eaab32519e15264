package client

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/protocol"
)

// Call quality (docs/protocol.md, "Call quality"): while a session's
// connection is up the Peer measures it every PeerOptions.QualityInterval
// and sends the server a qualityReport; the server grades it, keeps it for
// operators and relays it to the partner. The partner's reports come back
// as EventQuality, graded like the browser SDK and the server grade them
// (poor: loss ≥ 5 %, RTT ≥ 400 ms or jitter ≥ 50 ms; fair: loss ≥ 1 %,
// RTT ≥ 200 ms or jitter ≥ 30 ms; else good).

// EventQuality: a measurement of ours, or the partner's report. Quality
// holds both ends' grades.
const EventQuality PeerEventKind = "quality"

// DefaultQualityInterval is how often a Peer reports its call's quality.
const DefaultQualityInterval = 5 * time.Second

// Quality levels.
const (
	QualityUnknown = "unknown"
	QualityGood    = "good"
	QualityFair    = "fair"
	QualityPoor    = "poor"
)

// QualityStats are one end's measurements over an interval: a
// qualityReport's fields. Pointers are absent measures.
type QualityStats struct {
	RTT             *float64 `json:"rtt,omitempty"`    // ms, the selected candidate pair's
	Jitter          *float64 `json:"jitter,omitempty"` // ms, of received media
	Loss            *float64 `json:"loss,omitempty"`   // percent of received packets lost
	BitrateIn       *float64 `json:"bitrateIn,omitempty"`
	BitrateOut      *float64 `json:"bitrateOut,omitempty"` // kbit/s on the selected pair
	LocalCandidate  string   `json:"localCandidate,omitempty"`
	RemoteCandidate string   `json:"remoteCandidate,omitempty"`
	Transport       string   `json:"transport,omitempty"` // udp, tcp or tls (a relay's: to the TURN server)
	ICERestarts     int      `json:"iceRestarts"`
	Resumes         int      `json:"resumes"`
	SetupMs         *int64   `json:"setupMs,omitempty"` // join (or the partner's arrival) to connected
}

// Quality is an EventQuality: Local grades what this end receives, Remote
// what the partner receives (its last report, unknown until one came or
// when it is older than three intervals), Level the worse of the two.
type Quality struct {
	Level, Local, Remote string
	Stats                *QualityStats // ours, nil before the first measurement
	Partner              *QualityStats // the partner's last report
}

// Grade grades measurements.
func Grade(s *QualityStats) string {
	if s == nil || s.RTT == nil && s.Jitter == nil && s.Loss == nil {
		return QualityUnknown
	}
	at := func(v *float64, line float64) bool { return v != nil && *v >= line }
	switch {
	case at(s.Loss, 5) || at(s.RTT, 400) || at(s.Jitter, 50):
		return QualityPoor
	case at(s.Loss, 1) || at(s.RTT, 200) || at(s.Jitter, 30):
		return QualityFair
	}
	return QualityGood
}

var levelRank = map[string]int{QualityUnknown: 0, QualityGood: 1, QualityFair: 2, QualityPoor: 3}

func worse(a, b string) string {
	if levelRank[a] >= levelRank[b] {
		return a
	}
	return b
}

// QualityFrame is the server's quality frame: the partner's report.
type QualityFrame struct {
	Room  string
	Level string
	Stats QualityStats
}

// EventRoom implements Event.
func (q QualityFrame) EventRoom() string { return q.Room }

func decodeQuality(frame []byte, room string) QualityFrame {
	var w struct {
		Level string `json:"level"`
		QualityStats
	}
	json.Unmarshal(frame, &w) // a malformed field leaves its zero value
	return QualityFrame{Room: room, Level: w.Level, Stats: w.QualityStats}
}

// reportWire is a qualityReport.
type reportWire struct {
	Command  string `json:"command"`
	StreamID string `json:"streamId"`
	Seq      int    `json:"seq"`
	QualityStats
}

// qualityState is the Peer's reporter. Owned by the peer's goroutine.
type qualityState struct {
	sess        *Session
	seq         int
	prev        *qualityCounters
	pendingBase time.Time // when a call, if one comes, starts for us
	base        time.Time
	connected   bool
	setup       *int64
	restarts    int
	resumes     int
	local       *QualityStats
	remote      *QualityFrame
	remoteAt    time.Time
}

type qualityCounters struct {
	at                time.Time
	received, lost    int64
	bytesIn, bytesOut uint64
	haveRTP, havePair bool
}

func (p *Peer) qualityInterval() time.Duration {
	switch iv := p.opts.QualityInterval; {
	case iv == 0:
		return DefaultQualityInterval
	case iv > 0 && iv < time.Second:
		return time.Second // the server takes one report a second at most
	default:
		return iv
	}
}

// startQuality runs the reporter's clock until the peer stops.
func (p *Peer) startQuality() {
	p.q.pendingBase = time.Now()
	iv := p.qualityInterval()
	if iv < 0 {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(iv)
		defer t.Stop()
		for {
			select {
			case <-p.ctx.Done():
				return
			case <-t.C:
				p.post(p.sampleQuality)
			}
		}
	}()
}

// observeQuality follows the peer's events: the start of a call, its
// connection, its ICE restarts and resumes.
func (p *Peer) observeQuality(e PeerEvent) {
	q := &p.q
	switch e.Kind {
	case EventJoined:
		if p.cur == nil {
			q.pendingBase = time.Now()
		} else if e.Rejoin {
			q.resumes++
		}
	case EventNegotiating:
		if e.Offerer {
			q.pendingBase = time.Now() // the partner just arrived
		}
		q.follow(p.cur)
	case EventConnectionState:
		q.follow(p.cur)
		if e.State == webrtc.PeerConnectionStateConnected.String() && !q.connected {
			q.connected = true
			ms := time.Since(q.base).Milliseconds()
			q.setup = &ms
		}
	case EventRenegotiating:
		if strings.HasPrefix(e.Reason, "ice restart") {
			q.restarts++
		}
	}
}

// follow notices a new session: a new call, its reports numbered from 1.
func (q *qualityState) follow(s *Session) {
	if s == q.sess {
		return
	}
	*q = qualityState{sess: s, pendingBase: q.pendingBase, base: q.pendingBase}
}

// partnerQuality takes the partner's report.
func (p *Peer) partnerQuality(f QualityFrame) {
	p.q.remote, p.q.remoteAt = &f, time.Now()
	p.emitQuality()
}

func (p *Peer) emitQuality() {
	q := &p.q
	local := Grade(q.local)
	remote := QualityUnknown
	var partner *QualityStats
	if q.remote != nil {
		partner = &q.remote.Stats
		if time.Since(q.remoteAt) < 3*p.qualityInterval() {
			remote = q.remote.Level
		}
	}
	p.emit(PeerEvent{Kind: EventQuality, Quality: &Quality{Level: worse(local, remote), Local: local, Remote: remote,
		Stats: q.local, Partner: partner}})
}

// sampleQuality measures the current session and reports it.
func (p *Peer) sampleQuality() {
	q := &p.q
	q.follow(p.cur)
	s := p.cur
	if s == nil || !q.connected {
		return
	}
	st, c := measure(s.pc.GetStats(), q.prev, time.Now())
	q.prev = c
	if st == nil {
		return
	}
	st.ICERestarts, st.Resumes, st.SetupMs = q.restarts, q.resumes, q.setup
	q.local = st
	p.emitQuality()
	if !p.online {
		return
	}
	q.seq++
	ctx, cancel := context.WithTimeout(p.ctx, time.Second)
	defer cancel()
	if err := p.c.write(ctx, reportWire{protocol.CmdQualityReport, p.room, q.seq, *st}); err != nil {
		p.log.Debug("quality report not sent", "err", err)
	}
}

// measure reads pion's stats against the previous sample's counters.
func measure(r webrtc.StatsReport, prev *qualityCounters, now time.Time) (*QualityStats, *qualityCounters) {
	c := &qualityCounters{at: now}
	var pair *webrtc.ICECandidatePairStats
	var jitter *float64
	for _, s := range r {
		switch v := s.(type) {
		case webrtc.ICECandidatePairStats:
			if v.Nominated && v.State == webrtc.StatsICECandidatePairStateSucceeded && pair == nil {
				pp := v
				pair = &pp
			}
		case webrtc.InboundRTPStreamStats:
			c.haveRTP = true
			c.received += int64(v.PacketsReceived)
			c.lost += max(int64(v.PacketsLost), 0)
			j := v.Jitter * 1000
			if jitter == nil || j > *jitter {
				jitter = &j
			}
		}
	}
	if pair != nil {
		c.havePair, c.bytesIn, c.bytesOut = true, pair.BytesReceived, pair.BytesSent
	}
	if prev == nil {
		return nil, c
	}
	st := &QualityStats{}
	if pair != nil {
		if pair.CurrentRoundTripTime > 0 {
			st.RTT = ptr(round3(pair.CurrentRoundTripTime * 1000))
		}
		if lc, ok := r[pair.LocalCandidateID].(webrtc.ICECandidateStats); ok {
			st.LocalCandidate = lc.CandidateType.String()
			t := lc.Protocol
			if lc.CandidateType == webrtc.ICECandidateTypeRelay && lc.RelayProtocol != "" {
				t = lc.RelayProtocol
			}
			if t == "udp" || t == "tcp" || t == "tls" {
				st.Transport = t
			}
		}
		if rc, ok := r[pair.RemoteCandidateID].(webrtc.ICECandidateStats); ok {
			st.RemoteCandidate = rc.CandidateType.String()
		}
		if secs := now.Sub(prev.at).Seconds(); prev.havePair && secs > 0 {
			st.BitrateIn = ptr(round3(float64(sub(c.bytesIn, prev.bytesIn)) * 8 / 1000 / secs))
			st.BitrateOut = ptr(round3(float64(sub(c.bytesOut, prev.bytesOut)) * 8 / 1000 / secs))
		}
	}
	if jitter != nil {
		st.Jitter = ptr(round3(*jitter))
	}
	if dr, dl := c.received-prev.received, c.lost-prev.lost; prev.haveRTP && dr+dl > 0 && dr >= 0 && dl >= 0 {
		st.Loss = ptr(round3(100 * float64(dl) / float64(dr+dl)))
	}
	for _, name := range []*string{&st.LocalCandidate, &st.RemoteCandidate} {
		switch *name {
		case "host", "srflx", "prflx", "relay":
		default:
			*name = ""
		}
	}
	return st, c
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func ptr(v float64) *float64 { return &v }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
