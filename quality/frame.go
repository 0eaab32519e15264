package quality

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/duet-rtc/duet/protocol"
)

// The quality frame tells a member how its partner receives the call:
//
//	{"command":"quality","origin":"<node>","streamId":"r1","member":"17","session":"…",
//	 "level":"fair","seq":12,"rtt":180,…,"summary":{…}}
//
// origin (16 hex digits, always at the same offset) names the node that
// graded the report, so that a receiving node cheaply tells its own
// frames from another node's; summary is the reporter's running summary,
// so that whichever node ends the call can write its record.

// framePrefix starts every quality frame.
const framePrefix = `{"command":"quality","origin":"`

// OriginLen is the length of a node's origin id.
const OriginLen = 16

// maxFrameBytes bounds a quality frame read from another node.
const maxFrameBytes = 4096

// IsFrame reports whether frame is a quality frame, and its origin.
func IsFrame(frame []byte) (origin []byte, ok bool) {
	n := len(framePrefix)
	if len(frame) < n+OriginLen+1 || string(frame[:n]) != framePrefix || frame[n+OriginLen] != '"' {
		return nil, false
	}
	return frame[n : n+OriginLen], true
}

// AppendFrame encodes the quality frame of st for a member of room stream.
func AppendFrame(dst []byte, origin, stream string, st *State) []byte {
	dst = append(dst, framePrefix...)
	dst = append(dst, origin...)
	dst = append(dst, `","streamId":`...)
	dst = protocol.AppendString(dst, stream)
	if st.Member != "" {
		dst = append(dst, `,"member":`...)
		dst = protocol.AppendString(dst, st.Member)
	}
	if st.Session != "" {
		dst = append(dst, `,"session":`...)
		dst = protocol.AppendString(dst, st.Session)
	}
	dst = append(dst, `,"level":"`...)
	dst = append(dst, st.Level.String()...)
	dst = append(dst, '"')
	dst = appendReport(dst, &st.Last)
	s := &st.Sum
	dst = append(dst, `,"summary":{"reports":`...)
	dst = strconv.AppendUint(dst, uint64(s.Reports), 10)
	for _, f := range []struct {
		name string
		s    *Stat
	}{{"rtt", &s.RTT}, {"jitter", &s.Jitter}, {"loss", &s.Loss}, {"bitrateIn", &s.In}, {"bitrateOut", &s.Out}} {
		if f.s.N == 0 {
			continue
		}
		dst = append(dst, `,"`...)
		dst = append(dst, f.name...)
		dst = append(dst, `":[`...)
		dst = strconv.AppendUint(dst, uint64(f.s.N), 10)
		dst = append(dst, ',')
		dst = appendNum(dst, f.s.Sum)
		dst = append(dst, ',')
		dst = appendNum(dst, f.s.Max)
		dst = append(dst, ']')
	}
	dst = append(dst, `,"levels":[`...)
	for i, n := range s.Levels {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(n), 10)
	}
	return append(dst, "]}}"...)
}

// appendReport appends a report's fields (each after a comma).
func appendReport(dst []byte, r *Report) []byte {
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, uint64(r.Seq), 10)
	for _, f := range []struct {
		has  Field
		name string
		v    float64
	}{{HasRTT, "rtt", r.RTT}, {HasJitter, "jitter", r.Jit}, {HasLoss, "loss", r.Loss},
		{HasBitrateIn, "bitrateIn", r.In}, {HasBitrateOut, "bitrateOut", r.Out}} {
		if r.Has&f.has != 0 {
			dst = append(dst, `,"`...)
			dst = append(dst, f.name...)
			dst = append(dst, `":`...)
			dst = appendNum(dst, f.v)
		}
	}
	if r.Has&HasFrames != 0 {
		dst = append(dst, `,"framesDecoded":`...)
		dst = strconv.AppendUint(dst, r.FramesDecoded, 10)
		dst = append(dst, `,"framesDropped":`...)
		dst = strconv.AppendUint(dst, r.FramesDropped, 10)
		dst = append(dst, `,"freezes":`...)
		dst = strconv.AppendUint(dst, r.Freezes, 10)
	}
	for _, f := range []struct{ name, v string }{
		{"localCandidate", r.Local.String()}, {"remoteCandidate", r.Remote.String()}, {"transport", r.Transport.String()},
	} {
		if f.v != "" {
			dst = append(dst, `,"`...)
			dst = append(dst, f.name...)
			dst = append(dst, `":"`...)
			dst = append(dst, f.v...)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, `,"iceRestarts":`...)
	dst = strconv.AppendUint(dst, uint64(r.ICERestarts), 10)
	dst = append(dst, `,"resumes":`...)
	dst = strconv.AppendUint(dst, uint64(r.Resumes), 10)
	if r.Has&HasSetup != 0 {
		dst = append(dst, `,"setupMs":`...)
		dst = strconv.AppendUint(dst, uint64(r.SetupMs), 10)
	}
	return dst
}

// appendNum appends v with at most three decimals.
func appendNum(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, float64(int64(v*1000+0.5))/1000, 'f', -1, 64)
}

// wireFrame is a quality frame as JSON.
type wireFrame struct {
	wireReport
	Member  string       `json:"member"`
	Session string       `json:"session"`
	Level   string       `json:"level"`
	Summary *wireSummary `json:"summary"`
}

type wireSummary struct {
	Reports    uint32     `json:"reports"`
	RTT        [3]float64 `json:"rtt"`
	Jitter     [3]float64 `json:"jitter"`
	Loss       [3]float64 `json:"loss"`
	BitrateIn  [3]float64 `json:"bitrateIn"`
	BitrateOut [3]float64 `json:"bitrateOut"`
	Levels     [3]uint32  `json:"levels"`
}

// DecodeFrame reads a quality frame that another node made, received at
// time now, and returns the state it carries and its room's streamId.
func DecodeFrame(frame []byte, now time.Time) (st State, stream string, err error) {
	if len(frame) > maxFrameBytes {
		return st, "", ErrTooLarge
	}
	var w wireFrame
	if err := json.Unmarshal(frame, &w); err != nil {
		return st, "", ErrInvalid
	}
	// The report part is checked as a client's report is.
	r, err := w.wireReport.report()
	if err != nil {
		return st, "", err
	}
	st = State{Member: w.Member, Session: w.Session, Updated: now, Last: r, Level: ParseLevel(w.Level)}
	if s := w.Summary; s != nil {
		st.Sum = Summary{Reports: s.Reports, Levels: s.Levels,
			RTT: stat(s.RTT), Jitter: stat(s.Jitter), Loss: stat(s.Loss), In: stat(s.BitrateIn), Out: stat(s.BitrateOut)}
	}
	return st, w.StreamID, nil
}

func stat(a [3]float64) Stat {
	if a[0] < 0 || a[0] > maxSeq {
		return Stat{}
	}
	return Stat{N: uint32(a[0]), Sum: a[1], Max: a[2]}
}
