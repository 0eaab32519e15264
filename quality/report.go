// Package quality is what duet makes of the quality reports its SDKs send
// during a call: the report's wire format and bounds, a grade (good, fair,
// poor), the per-member state a node keeps for live views and call
// records, and the Prometheus metrics, whose labels are bounded (app and
// candidate type, never room or user).
//
// Nothing in a report is trusted for access decisions: it is what a
// client says of its own call, kept for operators and the partner.
package quality

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// MaxReportBytes bounds a report frame. A report is about 400 bytes; a
// larger frame is dropped without being read.
const MaxReportBytes = 1024

// Errors of Decode. A report that fails is dropped and counted; the
// socket that sent it is not otherwise affected.
var (
	ErrTooLarge = errors.New("quality: report larger than MaxReportBytes")
	ErrInvalid  = errors.New("quality: report field of the wrong type or out of range")
)

// Candidate is an ICE candidate type.
type Candidate uint8

// Candidate types, as RTCIceCandidateStats.candidateType names them.
const (
	CandidateUnknown Candidate = iota
	CandidateHost
	CandidateSrflx
	CandidatePrflx
	CandidateRelay
)

var candidateNames = [...]string{"", "host", "srflx", "prflx", "relay"}

func (c Candidate) String() string {
	if int(c) < len(candidateNames) {
		return candidateNames[c]
	}
	return ""
}

// Transport is how the selected pair's local candidate reaches its peer
// (for a relay candidate: how it reaches the TURN server).
type Transport uint8

// Transports.
const (
	TransportUnknown Transport = iota
	TransportUDP
	TransportTCP
	TransportTLS
)

var transportNames = [...]string{"", "udp", "tcp", "tls"}

func (t Transport) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return ""
}

// Field names a report's optional measurement.
type Field uint16

// Fields a report may carry.
const (
	HasRTT Field = 1 << iota
	HasJitter
	HasLoss
	HasBitrateIn
	HasBitrateOut
	HasFrames
	HasSetup
)

// Report is one decoded qualityReport: what one end of a call measured.
// Rates and loss cover the interval since its previous report; frame,
// restart and resume counts are totals for the peer connection.
type Report struct {
	Seq  uint32 // reports of one peer connection are numbered from 1
	Has  Field  // which optional measurements are present
	RTT  float64
	Jit  float64 // jitter of received media, ms
	Loss float64 // percent of packets lost in the interval
	In   float64 // kbit/s received
	Out  float64 // kbit/s sent

	FramesDecoded, FramesDropped, Freezes uint64

	Local, Remote Candidate
	Transport     Transport
	ICERestarts   uint32
	Resumes       uint32
	SetupMs       uint32 // join to first media
}

// wireReport is a report as JSON. Unknown fields are ignored, so that
// newer SDKs may add some; a known one of the wrong type fails.
type wireReport struct {
	StreamID        string `json:"streamId"`
	Seq             num    `json:"seq"`
	RTT             num    `json:"rtt"`
	Jitter          num    `json:"jitter"`
	Loss            num    `json:"loss"`
	BitrateIn       num    `json:"bitrateIn"`
	BitrateOut      num    `json:"bitrateOut"`
	FramesDecoded   num    `json:"framesDecoded"`
	FramesDropped   num    `json:"framesDropped"`
	Freezes         num    `json:"freezes"`
	LocalCandidate  string `json:"localCandidate"`
	RemoteCandidate string `json:"remoteCandidate"`
	Transport       string `json:"transport"`
	ICERestarts     num    `json:"iceRestarts"`
	Resumes         num    `json:"resumes"`
	SetupMs         num    `json:"setupMs"`
}

// num is an optional JSON number; null is absent.
type num struct {
	v  float64
	ok bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) == 0 || !(b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		return ErrInvalid
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return ErrInvalid
	}
	n.v, n.ok = v, true
	return nil
}

// Bounds of a report's numbers: anything outside is a broken or hostile
// report, not a bad network.
const (
	maxMs      = 60000         // rtt, jitter
	maxKbps    = 10_000_000    // 10 Gbit/s
	maxFrames  = 1 << 40       // frame counts
	maxCount   = 1_000_000     // ICE restarts, resumes
	maxSetupMs = 3_600_000     // an hour from join to media
	maxSeq     = math.MaxInt32 // report numbers
)

// Decode reads and checks the report in a qualityReport frame, and
// returns it with the frame's streamId (unchecked: the transport checks
// room names).
func Decode(frame []byte) (r Report, stream string, err error) {
	if len(frame) > MaxReportBytes {
		return r, "", ErrTooLarge
	}
	var w wireReport
	if err := json.Unmarshal(frame, &w); err != nil {
		return r, "", ErrInvalid
	}
	r, err = w.report()
	return r, w.StreamID, err
}

// report checks the numbers and names of a decoded report.
func (w *wireReport) report() (Report, error) {
	var r Report
	ok := true
	in := func(n num, lo, hi float64) bool {
		if !n.ok {
			return false
		}
		if n.v < lo || n.v > hi {
			ok = false
			return false
		}
		return true
	}
	integer := func(n num, hi float64) uint64 {
		if !n.ok {
			return 0
		}
		if n.v < 0 || n.v > hi || n.v != math.Trunc(n.v) {
			ok = false
			return 0
		}
		return uint64(n.v)
	}
	if !w.Seq.ok {
		return r, ErrInvalid
	}
	r.Seq = uint32(integer(w.Seq, maxSeq))
	if r.Seq == 0 {
		return r, ErrInvalid
	}
	set := func(n num, f Field, dst *float64, hi float64) {
		if in(n, 0, hi) {
			r.Has |= f
			*dst = n.v
		}
	}
	set(w.RTT, HasRTT, &r.RTT, maxMs)
	set(w.Jitter, HasJitter, &r.Jit, maxMs)
	set(w.Loss, HasLoss, &r.Loss, 100)
	set(w.BitrateIn, HasBitrateIn, &r.In, maxKbps)
	set(w.BitrateOut, HasBitrateOut, &r.Out, maxKbps)
	if w.FramesDecoded.ok || w.FramesDropped.ok || w.Freezes.ok {
		r.Has |= HasFrames
	}
	r.FramesDecoded = integer(w.FramesDecoded, maxFrames)
	r.FramesDropped = integer(w.FramesDropped, maxFrames)
	r.Freezes = integer(w.Freezes, maxFrames)
	r.ICERestarts = uint32(integer(w.ICERestarts, maxCount))
	r.Resumes = uint32(integer(w.Resumes, maxCount))
	if w.SetupMs.ok {
		r.Has |= HasSetup
		r.SetupMs = uint32(integer(w.SetupMs, maxSetupMs))
	}
	var cok, rok, tok bool
	r.Local, cok = parseCandidate(w.LocalCandidate)
	r.Remote, rok = parseCandidate(w.RemoteCandidate)
	r.Transport, tok = parseTransport(w.Transport)
	if !ok || !cok || !rok || !tok {
		return Report{}, ErrInvalid
	}
	return r, nil
}

func parseCandidate(s string) (Candidate, bool) {
	for i, n := range candidateNames {
		if s == n {
			return Candidate(i), true
		}
	}
	return 0, false
}

func parseTransport(s string) (Transport, bool) {
	for i, n := range transportNames {
		if s == n {
			return Transport(i), true
		}
	}
	return 0, false
}
