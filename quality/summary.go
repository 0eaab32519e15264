package quality

import "time"

// Stat summarises one measure over a call's reports.
type Stat struct {
	N   uint32
	Sum float64
	Max float64
}

func (s *Stat) add(v float64) {
	s.N++
	s.Sum += v
	s.Max = max(s.Max, v)
}

// Avg is the mean (0 without values).
func (s Stat) Avg() float64 {
	if s.N == 0 {
		return 0
	}
	return s.Sum / float64(s.N)
}

// Summary is what a member's reports of one peer connection add up to.
type Summary struct {
	Reports uint32
	RTT     Stat
	Jitter  Stat
	Loss    Stat
	In, Out Stat
	Levels  [3]uint32 // reports graded good, fair, poor
}

func (s *Summary) add(r Report, l Level) {
	s.Reports++
	if r.Has&HasRTT != 0 {
		s.RTT.add(r.RTT)
	}
	if r.Has&HasJitter != 0 {
		s.Jitter.add(r.Jit)
	}
	if r.Has&HasLoss != 0 {
		s.Loss.add(r.Loss)
	}
	if r.Has&HasBitrateIn != 0 {
		s.In.add(r.In)
	}
	if r.Has&HasBitrateOut != 0 {
		s.Out.add(r.Out)
	}
	if l != LevelUnknown {
		s.Levels[l-1]++
	}
}

// State is one member's quality as a node knows it: its latest report and
// grade and the summary of its current peer connection. It travels to the
// partner's node in the partner's quality frame.
type State struct {
	Member  string // the member's id in room events ("" until known)
	Session string // its SDK's call-session id, when it sent one
	Updated time.Time
	Last    Report
	Level   Level
	Sum     Summary
}

// Point is one report in a member's recent history.
type Point struct {
	At     time.Time
	Level  Level
	RTT    float32
	Jitter float32
	Loss   float32
	In     float32
	Out    float32
}

func pointOf(at time.Time, r Report, l Level) Point {
	return Point{At: at, Level: l, RTT: float32(r.RTT), Jitter: float32(r.Jit), Loss: float32(r.Loss),
		In: float32(r.In), Out: float32(r.Out)}
}
