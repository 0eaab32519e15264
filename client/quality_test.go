package client_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/client"
)

// qualityLog keeps a peer's EventQuality events.
type qualityLog struct {
	mu sync.Mutex
	qs []client.Quality
}

func (l *qualityLog) on(e client.PeerEvent) {
	if e.Kind == client.EventQuality {
		l.mu.Lock()
		l.qs = append(l.qs, *e.Quality)
		l.mu.Unlock()
	}
}

func (l *qualityLog) last() (client.Quality, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.qs) == 0 {
		return client.Quality{}, false
	}
	return l.qs[len(l.qs)-1], true
}

// TestPeerReportsQuality: two Go peers, one sending audio, report their
// call's quality; the server keeps both reports and each peer hears how
// the other receives.
func TestPeerReportsQuality(t *testing.T) {
	srv := startServer(t)
	var la, lb qualityLog
	audio := audioTrack(t, "mic", 20*time.Millisecond)
	pa := newPeer(t, dial(t, srv.URL("q")), "r1", &client.PeerOptions{QualityInterval: time.Second, OnEvent: la.on,
		OnPeerConnection: func(pc *webrtc.PeerConnection) error { _, err := pc.AddTrack(audio); return err }})
	pb := newPeer(t, dial(t, srv.URL("q")), "r1", &client.PeerOptions{QualityInterval: time.Second, OnEvent: lb.on,
		OnPeerConnection: (&remoteTracks{}).hook})
	accept(t, pa)
	accept(t, pb)
	waitFor(t, "both peers hear the other's report", func() bool {
		qa, oka := la.last()
		qb, okb := lb.last()
		return oka && okb && qa.Partner != nil && qb.Partner != nil && qa.Remote != client.QualityUnknown && qb.Remote != client.QualityUnknown
	})
	qb, _ := lb.last()
	st := qb.Stats
	if st == nil || st.RTT == nil || st.Loss == nil || st.LocalCandidate != "host" || st.Transport != "udp" || st.SetupMs == nil || *st.SetupMs <= 0 {
		t.Fatalf("b's measurements = %+v", st)
	}
	// The grades follow the measures (a loaded machine's jitter may make
	// them fair): local is b's own, level the worse of both ends.
	if qb.Local != client.Grade(st) || qb.Level != qb.Local && qb.Level != qb.Remote {
		t.Fatalf("b's quality = %+v", qb)
	}
	if live := srv.Quality().Local(nil); len(live) != 2 {
		t.Fatalf("the server holds %d members' quality, want 2", len(live))
	}
}

func TestGrade(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		s    *client.QualityStats
		want string
	}{
		{nil, client.QualityUnknown},
		{&client.QualityStats{}, client.QualityUnknown},
		{&client.QualityStats{RTT: f(30), Loss: f(0.5), Jitter: f(10)}, client.QualityGood},
		{&client.QualityStats{Loss: f(1)}, client.QualityFair},
		{&client.QualityStats{RTT: f(200)}, client.QualityFair},
		{&client.QualityStats{Jitter: f(50)}, client.QualityPoor},
		{&client.QualityStats{RTT: f(10), Loss: f(7)}, client.QualityPoor},
	} {
		if got := client.Grade(c.s); got != c.want {
			t.Errorf("Grade(%+v) = %s, want %s", c.s, got, c.want)
		}
	}
}
