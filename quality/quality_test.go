package quality

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/hub"
)

func TestDecode(t *testing.T) {
	r, stream, err := Decode([]byte(`{"command":"qualityReport","streamId":"r1","seq":3,"rtt":23.5,"jitter":4,"loss":1.25,
		"bitrateIn":800,"bitrateOut":900.5,"framesDecoded":300,"framesDropped":2,"freezes":1,"localCandidate":"relay",
		"remoteCandidate":"srflx","transport":"tls","iceRestarts":2,"resumes":1,"setupMs":850,"futureField":{"x":1}}`))
	if err != nil || stream != "r1" {
		t.Fatal(err, stream)
	}
	want := Report{Seq: 3, Has: HasRTT | HasJitter | HasLoss | HasBitrateIn | HasBitrateOut | HasFrames | HasSetup,
		RTT: 23.5, Jit: 4, Loss: 1.25, In: 800, Out: 900.5, FramesDecoded: 300, FramesDropped: 2, Freezes: 1,
		Local: CandidateRelay, Remote: CandidateSrflx, Transport: TransportTLS, ICERestarts: 2, Resumes: 1, SetupMs: 850}
	if r != want {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	// Only seq is required; nulls are absent.
	if r, _, err := Decode([]byte(`{"seq":1,"rtt":null}`)); err != nil || r.Has != 0 {
		t.Fatal(r, err)
	}
	for _, bad := range []string{
		`{"seq":1,"rtt":"fast"}`, `{"seq":1,"rtt":-1}`, `{"seq":1,"rtt":60001}`, `{"seq":1,"loss":100.5}`,
		`{"seq":1,"bitrateIn":1e300}`, `{"seq":1,"framesDecoded":1.5}`, `{"seq":1,"iceRestarts":-2}`,
		`{"seq":1,"localCandidate":"host "}`, `{"seq":1,"transport":"UDP"}`, `{"seq":1,"transport":7}`,
		`{"seq":0}`, `{"seq":-1}`, `{"seq":2.5}`, `{"rtt":1}`, `[1]`, `{"seq":1,"rtt":{}}`, `{"seq":1,"setupMs":3600001}`,
		`{"seq":1,"rtt":1e999}`, `not json`,
	} {
		if _, _, err := Decode([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%s) = %v, want ErrInvalid", bad, err)
		}
	}
	big := `{"seq":1,"pad":"` + strings.Repeat("x", MaxReportBytes) + `"}`
	if _, _, err := Decode([]byte(big)); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
}

func TestGrade(t *testing.T) {
	for _, c := range []struct {
		r    Report
		want Level
	}{
		{Report{Seq: 1}, LevelUnknown},
		{Report{Seq: 1, Has: HasBitrateIn, In: 10}, LevelUnknown},
		{Report{Seq: 1, Has: HasRTT | HasLoss | HasJitter, RTT: 50, Loss: 0.2, Jit: 10}, LevelGood},
		{Report{Seq: 1, Has: HasLoss, Loss: 1}, LevelFair},
		{Report{Seq: 1, Has: HasRTT, RTT: 200}, LevelFair},
		{Report{Seq: 1, Has: HasJitter, Jit: 30}, LevelFair},
		{Report{Seq: 1, Has: HasLoss | HasRTT, Loss: 5, RTT: 10}, LevelPoor},
		{Report{Seq: 1, Has: HasRTT, RTT: 400}, LevelPoor},
		{Report{Seq: 1, Has: HasJitter | HasLoss, Jit: 50, Loss: 2}, LevelPoor},
		// A measure that is absent does not count, whatever its value.
		{Report{Seq: 1, Has: HasRTT, RTT: 10, Loss: 50}, LevelGood},
	} {
		if got := Grade(c.r); got != c.want {
			t.Errorf("Grade(%+v) = %v, want %v", c.r, got, c.want)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	st := State{Member: "n1/7", Session: "s-1", Level: LevelFair,
		Last: Report{Seq: 9, Has: HasRTT | HasLoss | HasFrames | HasSetup, RTT: 210.25, Loss: 0.5, FramesDecoded: 9,
			FramesDropped: 1, Local: CandidateHost, Remote: CandidatePrflx, Transport: TransportUDP, ICERestarts: 1, SetupMs: 500},
		Sum: Summary{Reports: 9, RTT: Stat{N: 9, Sum: 900.5, Max: 250}, Loss: Stat{N: 9, Sum: 3, Max: 1}, Levels: [3]uint32{7, 2, 0}}}
	frame := AppendFrame(nil, "0123456789abcdef", "room.1", &st)
	origin, ok := IsFrame(frame)
	if !ok || string(origin) != "0123456789abcdef" {
		t.Fatalf("IsFrame(%s) = %q %v", frame, origin, ok)
	}
	now := time.Unix(100, 0)
	got, stream, err := DecodeFrame(frame, now)
	if err != nil || stream != "room.1" {
		t.Fatal(err, stream, string(frame))
	}
	st.Updated = now
	if got != st {
		t.Fatalf("got  %+v\nwant %+v\nframe %s", got, st, frame)
	}
	for _, f := range []string{`{"command":"quality"}`, `{"command":"qualityReport","origin":"0123456789abcdef"}`, `{"command":"quality","origin":"012"}`} {
		if _, ok := IsFrame([]byte(f)); ok {
			t.Errorf("IsFrame(%s)", f)
		}
	}
}

// clock is a manual clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestTrackerCarriesAResume(t *testing.T) {
	c := &clock{time.Unix(1000, 0)}
	tr := NewTracker(Options{Now: c.now, DetachTTL: time.Minute})
	k := hub.Key{App: "a", Stream: "r"}
	tr.Seat(k, 1, "a", "n1/1", "sess")
	for i := 1; i <= 3; i++ {
		if _, ok := tr.Report(k, 1, Report{Seq: uint32(i), Has: HasRTT, RTT: float64(10 * i)}); !ok {
			t.Fatal("report refused")
		}
	}
	tr.Leave(k, 1)
	if _, ok := tr.Report(k, 1, Report{Seq: 4}); ok {
		t.Fatal("a report from a socket that left was taken")
	}
	// The SDK resumes on a new socket, with a new member id (a cluster's
	// resume), and goes on with the same peer connection.
	c.t = c.t.Add(10 * time.Second)
	tr.Seat(k, 2, "a", "n2/5", "sess")
	st, ok := tr.Report(k, 2, Report{Seq: 4, Has: HasRTT, RTT: 50})
	if !ok || st.Sum.Reports != 4 || st.Sum.RTT.Max != 50 || st.Member != "n2/5" {
		t.Fatalf("state after the resume = %+v", st)
	}
	// A new peer connection numbers its reports from 1 again.
	st, _ = tr.Report(k, 2, Report{Seq: 1, Has: HasRTT, RTT: 5})
	if st.Sum.Reports != 1 || st.Sum.RTT.Max != 5 {
		t.Fatalf("state of a new peer connection = %+v", st)
	}
	if tr.Len() != 1 {
		t.Fatalf("%d states, want 1", tr.Len())
	}
}

func TestTrackerSweeps(t *testing.T) {
	c := &clock{time.Unix(1000, 0)}
	tr := NewTracker(Options{Now: c.now, DetachTTL: time.Minute})
	k1, k2 := hub.Key{App: "a", Stream: "r1"}, hub.Key{App: "a", Stream: "r2"}
	tr.Seat(k1, 1, "a", "1", "")
	tr.Seat(k2, 2, "a", "2", "")
	// A partner's state from another node is kept only next to a local
	// member.
	tr.Partner(k2, State{Member: "n9/1", Updated: c.t, Last: Report{Seq: 1}})
	tr.Partner(hub.Key{App: "a", Stream: "elsewhere"}, State{Member: "n9/2", Updated: c.t, Last: Report{Seq: 1}})
	if tr.Len() != 3 {
		t.Fatalf("%d states, want 3", tr.Len())
	}
	tr.Leave(k1, 1)
	c.t = c.t.Add(59 * time.Second)
	tr.Sweep()
	if tr.Len() != 3 {
		t.Fatalf("%d states within the TTL, want 3", tr.Len())
	}
	c.t = c.t.Add(2 * time.Second)
	tr.Sweep()
	if tr.Len() != 2 {
		t.Fatalf("%d states after the TTL, want 2", tr.Len())
	}
	tr.Leave(k2, 2)
	c.t = c.t.Add(2 * time.Minute)
	tr.Sweep()
	if tr.Len() != 0 {
		t.Fatalf("%d states once every local member left, want 0", tr.Len())
	}
}

func TestEndCall(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(Options{Metrics: m})
	k := hub.Key{App: "a", Stream: "r"}
	tr.Seat(k, 1, "a", "1", "")
	tr.Report(k, 1, Report{Seq: 1, Has: HasRTT | HasSetup, RTT: 40, SetupMs: 300, Local: CandidateHost, Remote: CandidateHost})
	tr.Partner(k, State{Member: "n2/1", Updated: time.Now(), Last: Report{Seq: 1, Has: HasSetup, SetupMs: 900, Local: CandidateSrflx},
		Sum: Summary{Reports: 1}})
	ev := hub.Event{Kind: hub.CallEnded, Key: k, Member: hub.Member{ID: "n2/1"}, Members: []hub.Member{{ID: "1"}, {ID: "n2/1"}}}
	cq := tr.EndCall(ev)
	if cq == nil || len(cq.Members) != 2 || cq.TURN || cq.Candidate != "host" || *cq.SetupMs != 900 || cq.Members[0].ID != "1" {
		t.Fatalf("call quality = %+v", cq)
	}
	// The member that left (a copy of another node's) is gone; the one
	// that stays starts afresh.
	if tr.Len() != 1 {
		t.Fatalf("%d states, want 1", tr.Len())
	}
	if cq := tr.EndCall(ev); cq != nil {
		t.Fatalf("a second record of the same call = %+v", cq)
	}
	for _, cand := range []string{"host", "unknown"} {
		if n := counter(t, reg, "duet_quality_calls_total", cand); n != 1 {
			t.Fatalf("calls{%s} = %v", cand, n)
		}
	}
}

func TestAppLabelsAreBounded(t *testing.T) {
	m, _ := NewMetrics(nil)
	for i := range MaxApps + 10 {
		m.app(strings.Repeat("a", i+1))
	}
	if got := m.app("late"); got != OtherApp {
		t.Fatalf("app label past the bound = %q", got)
	}
	if got := m.app("a"); got != "a" {
		t.Fatalf("an early app's label = %q", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"seq":1,"rtt":20,"loss":0.5,"localCandidate":"host","transport":"udp"}`))
	f.Add([]byte(`{"seq":1e3,"framesDecoded":12,"setupMs":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := Decode(b)
		if err != nil {
			return
		}
		if r.Seq == 0 || r.RTT < 0 || r.RTT > maxMs || r.Loss < 0 || r.Loss > 100 || math.IsNaN(r.In) || r.In > maxKbps ||
			r.Local > CandidateRelay || r.Transport > TransportTLS {
			t.Fatalf("Decode accepted %+v from %q", r, b)
		}
		frame := AppendFrame(nil, "0123456789abcdef", "r", &State{Last: r, Level: Grade(r)})
		if _, _, err := DecodeFrame(frame, time.Now()); err != nil {
			t.Fatalf("the frame of an accepted report does not decode: %v\n%s", err, frame)
		}
	})
}

// counter is the value of a counter of reg with a label of value v.
func counter(t *testing.T, reg *prometheus.Registry, name, v string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == v {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestEndCallOfARestart: a member that restarts its call (a repeated join
// of an Ant Media mobile SDK, or restart from duet's) ends the call but
// stays seated: its next reports still count, for the next call.
func TestEndCallOfARestart(t *testing.T) {
	tr := NewTracker(Options{})
	k := hub.Key{App: "a", Stream: "r"}
	tr.Seat(k, 1, "a", "1", "")
	tr.Seat(k, 2, "a", "2", "")
	for _, conn := range []uint64{1, 2} {
		tr.Report(k, conn, Report{Seq: 1, Has: HasRTT, RTT: 30})
	}
	cq := tr.EndCall(hub.Event{Kind: hub.CallEnded, Key: k, Reason: hub.ReasonRestart, Member: hub.Member{ID: "1"},
		Members: []hub.Member{{ID: "1"}, {ID: "2"}}})
	if cq == nil || len(cq.Members) != 2 {
		t.Fatalf("call quality = %+v", cq)
	}
	if st, ok := tr.Report(k, 1, Report{Seq: 1, Has: HasRTT, RTT: 40}); !ok || st.Sum.Reports != 1 {
		t.Fatalf("a report after the restart: %+v, %v", st, ok)
	}
}
