package quality

import (
	"time"

	"github.com/duet-rtc/duet/hub"
)

// CallQuality is how a call went, as its members' reports tell: the
// quality part of a call record (the call_ended webhook and the admin
// API's listing of recent calls). A call of Ant Media SDKs, which send no
// reports, has none.
type CallQuality struct {
	// Members are the members that reported, in the call's order.
	Members []MemberQuality `json:"members"`
	// TURN: either end's selected candidate pair went through a TURN
	// relay.
	TURN bool `json:"turn"`
	// Candidate is the call's path in one word: relay when it used TURN,
	// else the best type reported (host, then prflx or srflx).
	Candidate string `json:"candidate"`
	// SetupMs is the longer of the members' times from join to first
	// media: the call had media both ways from then on.
	SetupMs *uint32 `json:"setupMs,omitempty"`
}

// MemberQuality summarises one member's reports of the call.
type MemberQuality struct {
	ID              string      `json:"id"` // the member, as room events name it
	Reports         uint32      `json:"reports"`
	Level           string      `json:"level,omitempty"` // of the last report
	Levels          LevelCounts `json:"levels"`
	SetupMs         *uint32     `json:"setupMs,omitempty"`
	LocalCandidate  string      `json:"localCandidate,omitempty"`
	RemoteCandidate string      `json:"remoteCandidate,omitempty"`
	Transport       string      `json:"transport,omitempty"`
	RTTMs           *StatOut    `json:"rttMs,omitempty"`
	JitterMs        *StatOut    `json:"jitterMs,omitempty"`
	LossPct         *StatOut    `json:"lossPct,omitempty"`
	BitrateInKbps   *StatOut    `json:"bitrateInKbps,omitempty"`
	BitrateOutKbps  *StatOut    `json:"bitrateOutKbps,omitempty"`
	FramesDecoded   uint64      `json:"framesDecoded"`
	FramesDropped   uint64      `json:"framesDropped"`
	Freezes         uint64      `json:"freezes"`
	ICERestarts     uint32      `json:"iceRestarts"`
	Resumes         uint32      `json:"resumes"`
}

// LevelCounts counts reports by grade.
type LevelCounts struct {
	Good uint32 `json:"good"`
	Fair uint32 `json:"fair"`
	Poor uint32 `json:"poor"`
}

// StatOut is a measure's summary as JSON: mean, maximum and last value.
type StatOut struct {
	Avg  float64 `json:"avg"`
	Max  float64 `json:"max"`
	Last float64 `json:"last"`
}

func statOut(s Stat, has bool, last float64) *StatOut {
	if s.N == 0 {
		return nil
	}
	o := &StatOut{Avg: round3(s.Avg()), Max: round3(s.Max)}
	if has {
		o.Last = round3(last)
	}
	return o
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// MemberQualityOf is st as a record shows it.
func MemberQualityOf(st State) MemberQuality {
	r, s := st.Last, st.Sum
	mq := MemberQuality{ID: st.Member, Reports: s.Reports, Level: st.Level.String(),
		Levels:         LevelCounts{s.Levels[0], s.Levels[1], s.Levels[2]},
		LocalCandidate: r.Local.String(), RemoteCandidate: r.Remote.String(), Transport: r.Transport.String(),
		RTTMs:          statOut(s.RTT, r.Has&HasRTT != 0, r.RTT),
		JitterMs:       statOut(s.Jitter, r.Has&HasJitter != 0, r.Jit),
		LossPct:        statOut(s.Loss, r.Has&HasLoss != 0, r.Loss),
		BitrateInKbps:  statOut(s.In, r.Has&HasBitrateIn != 0, r.In),
		BitrateOutKbps: statOut(s.Out, r.Has&HasBitrateOut != 0, r.Out),
		FramesDecoded:  r.FramesDecoded, FramesDropped: r.FramesDropped, Freezes: r.Freezes,
		ICERestarts: r.ICERestarts, Resumes: r.Resumes,
	}
	if r.Has&HasSetup != 0 {
		v := r.SetupMs
		mq.SetupMs = &v
	}
	return mq
}

// EndCall writes the quality of the call that ev (a CallEnded) ends, from
// the states of its members here, and forgets the member that left, unless
// its socket is still seated here (it restarted the call, or its leave is
// told to the tracker just after): that one, like the member that stays,
// starts afresh, as its next call is another. It returns nil when no
// member reported. It is called once per call in a cluster, by the node
// that ended it.
func (t *Tracker) EndCall(ev hub.Event) *CallQuality {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rooms[ev.Key]
	app := ev.Key.App
	if r == nil {
		t.o.Metrics.call(app, CandidateUnknown)
		return nil
	}
	var states []State
	for _, m := range ev.Members {
		q := r.find(m.ID, "")
		if q == nil || q.Sum.Reports == 0 {
			continue
		}
		states = append(states, q.State)
		q.reset()
	}
	for i := 0; i < len(r.ms); i++ {
		q := r.ms[i]
		if q.Member != ev.Member.ID || q.conn != 0 && q.detached.IsZero() {
			continue
		}
		r.ms = append(r.ms[:i], r.ms[i+1:]...)
		i--
	}
	if !r.hasLocal() {
		delete(t.rooms, ev.Key)
	}
	cq := callQualityOf(states)
	c := CandidateUnknown
	if cq != nil {
		c, _ = parseCandidate(cq.Candidate)
	}
	t.o.Metrics.call(app, c)
	return cq
}

// callQualityOf is the record of a call whose members reported states.
func callQualityOf(states []State) *CallQuality {
	if len(states) == 0 {
		return nil
	}
	cq := &CallQuality{Members: make([]MemberQuality, 0, len(states))}
	best := CandidateUnknown
	rank := func(c Candidate) int { return [...]int{0, 4, 2, 3, 1}[c] } // host best, relay worst
	for _, st := range states {
		r := st.Last
		cq.Members = append(cq.Members, MemberQualityOf(st))
		for _, c := range []Candidate{r.Local, r.Remote} {
			if c == CandidateRelay {
				cq.TURN = true
			}
		}
		if r.Local != CandidateUnknown && (best == CandidateUnknown || rank(r.Local) > rank(best)) {
			best = r.Local
		}
		if r.Has&HasSetup != 0 && (cq.SetupMs == nil || r.SetupMs > *cq.SetupMs) {
			v := r.SetupMs
			cq.SetupMs = &v
		}
	}
	if cq.TURN {
		best = CandidateRelay
	}
	cq.Candidate = candidateLabel(best)
	return cq
}

// Live is a member's quality now, for the admin API.
type Live struct {
	MemberQuality
	UpdatedAt time.Time `json:"updatedAt"`
	// History holds the last reports, oldest first.
	History []PointOut `json:"history"`
}

// PointOut is a report in a member's history.
type PointOut struct {
	At       time.Time `json:"at"`
	Level    string    `json:"level,omitempty"`
	RTTMs    float32   `json:"rttMs"`
	JitterMs float32   `json:"jitterMs"`
	LossPct  float32   `json:"lossPct"`
	InKbps   float32   `json:"bitrateInKbps"`
	OutKbps  float32   `json:"bitrateOutKbps"`
}

// Local returns the live quality of the members whose sockets are on
// this node and that have reported, by member id: those in ids (nil: all).
func (t *Tracker) Local(ids []string) map[string]Live {
	var want map[string]bool
	if ids != nil {
		want = make(map[string]bool, len(ids))
		for _, id := range ids {
			want[id] = true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]Live{}
	for _, r := range t.rooms {
		for _, q := range r.ms {
			if q.conn == 0 || !q.detached.IsZero() || q.Sum.Reports == 0 || q.Member == "" || want != nil && !want[q.Member] {
				continue
			}
			l := Live{MemberQuality: MemberQualityOf(q.State), UpdatedAt: q.Updated.UTC()}
			for _, p := range q.history() {
				l.History = append(l.History, PointOut{At: p.At.UTC(), Level: p.Level.String(), RTTMs: p.RTT,
					JitterMs: p.Jitter, LossPct: p.Loss, InKbps: p.In, OutKbps: p.Out})
			}
			out[q.Member] = l
		}
	}
	return out
}
