package quality

// Level grades what one end of a call receives.
type Level uint8

// Levels. LevelUnknown: the report measured nothing yet (no media).
const (
	LevelUnknown Level = iota
	LevelGood
	LevelFair
	LevelPoor
)

var levelNames = [...]string{"", "good", "fair", "poor"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return ""
}

// ParseLevel is the inverse of Level.String ("" and unknown names give
// LevelUnknown).
func ParseLevel(s string) Level {
	for i, n := range levelNames {
		if s == n {
			return Level(i)
		}
	}
	return LevelUnknown
}

// Thresholds of the grades, the same in the server and both SDKs
// (web/sdk/quality.js, client/quality.go): a report is poor when any of
// its measures reaches the poor line, else fair when any reaches the fair
// line, else good. The lines are where calls are commonly heard to suffer:
// a few percent of loss breaks up audio and freezes video, a round trip
// past 400 ms makes people talk over each other, jitter past 50 ms
// outgrows the jitter buffers.
const (
	FairLossPct   = 1.0
	PoorLossPct   = 5.0
	FairRTTMs     = 200.0
	PoorRTTMs     = 400.0
	FairJitterMs  = 30.0
	PoorJitterMs  = 50.0
	minMeasurable = HasRTT | HasJitter | HasLoss
)

// Grade grades a report.
func Grade(r Report) Level {
	if r.Has&minMeasurable == 0 {
		return LevelUnknown
	}
	at := func(f Field, v, line float64) bool { return r.Has&f != 0 && v >= line }
	switch {
	case at(HasLoss, r.Loss, PoorLossPct) || at(HasRTT, r.RTT, PoorRTTMs) || at(HasJitter, r.Jit, PoorJitterMs):
		return LevelPoor
	case at(HasLoss, r.Loss, FairLossPct) || at(HasRTT, r.RTT, FairRTTMs) || at(HasJitter, r.Jit, FairJitterMs):
		return LevelFair
	}
	return LevelGood
}
