package server_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// report is a qualityReport as duet's SDKs write it: command first.
func report(room string, seq int, fields string) string {
	s := `{"command":"qualityReport","streamId":"` + room + `","seq":` + strconv.Itoa(seq)
	if fields != "" {
		s += "," + fields
	}
	return s + "}"
}

func TestQualityReportReachesPartner(t *testing.T) {
	e := start(t)
	a, b := wstest.Dial(t, e.URL("q")), wstest.Dial(t, e.URL("q"))
	wstest.Pair(a, b, "r1")
	// b reports first: from then on it gets a's quality frames; a, which
	// has not reported yet, does not get b's.
	b.Send(report("r1", 1, `"rtt":20,"loss":0,"jitter":3,"localCandidate":"host","remoteCandidate":"host","transport":"udp"`))
	b.Send(wstest.Msg{"command": "peerMessageCommand", "streamId": "r1", "definition": "d", "data": "x"})
	a.Expect("peerMessageCommand", "") // relays keep their order: no quality frame came first
	a.Send(report("r1", 1, `"rtt":250,"loss":2,"jitter":10,"bitrateIn":800,"bitrateOut":900,"localCandidate":"relay","remoteCandidate":"srflx","transport":"tls","setupMs":840,"iceRestarts":1`))
	q := b.Expect("quality", "")
	if q.Str("level") != "fair" || q.Str("streamId") != "r1" || q["rtt"] != 250.0 || q.Str("localCandidate") != "relay" ||
		q.Str("transport") != "tls" || q["setupMs"] != 840.0 || q["iceRestarts"] != 1.0 || q.Str("member") == "" {
		t.Fatalf("quality = %v", q)
	}
	a.Send(report("r1", 2, `"rtt":30,"loss":9`))
	if q := b.Expect("quality", ""); q.Str("level") != "poor" {
		t.Fatalf("quality = %v", q)
	}
	// a reads b's reports now that it reports itself; nothing echoes.
	b.Send(report("r1", 2, `"rtt":21`))
	if q := a.Expect("quality", ""); q.Str("level") != "good" || q["seq"] != 2.0 {
		t.Fatalf("quality = %v", q)
	}
	a.Quiet()
	a.Send(wstest.Msg{"command": "takeConfiguration", "streamId": "r1", "type": "offer", "sdp": "v=0"})
	b.Expect("takeConfiguration", "")
	wstest.Eventually(t, "reports counted", func() bool {
		return e.metricSum(t, `duet_quality_reports_total{app="q"}`) == 4
	})
	if n := e.metricSum(t, `duet_quality_grades_total{app="q",level="poor"}`); n != 1 {
		t.Fatalf("poor grades = %v", n)
	}
}

func TestQualityFramesOnlyToReportingSDKs(t *testing.T) {
	e := start(t)
	a, b := wstest.Dial(t, e.URL("q")), wstest.Dial(t, e.URL("q"))
	wstest.Pair(a, b, "r1")
	// b is an Ant Media SDK: it never reports, and never hears of a's.
	for i := 1; i <= 3; i++ {
		a.Send(report("r1", i, `"rtt":20`))
	}
	a.Send(wstest.Msg{"command": "peerMessageCommand", "streamId": "r1", "definition": "d", "data": "x"})
	if m := b.Read(); m.Str("command") != "peerMessageCommand" {
		t.Fatalf("an Ant Media SDK got %v", m)
	}
	b.Quiet()
}

func TestHostileReports(t *testing.T) {
	e := startSingle(t, func(c *config.Config) { c.RateLimit, c.RateBurst = 20, 20 })
	a, b := wstest.Dial(t, e.URL("q")), wstest.Dial(t, e.URL("q"))
	wstest.Pair(a, b, "r1")
	dropped := func(reason string) float64 {
		return e.metricSum(t, `duet_quality_reports_dropped_total{reason="`+reason+`"}`)
	}
	// Each socket may send three reports at once: the malformed ones go
	// three to a socket, so that none is dropped for its rate.
	c := wstest.Dial(t, e.URL("q"))
	wstest.Join(c, "r2")
	c.Expect("notification", "joined")
	for _, bad := range []struct {
		from   *wstest.Client
		report string
	}{
		{a, report("r1", 1, `"pad":"`+strings.Repeat("x", 2000)+`"`)},            // too large (takes no token)
		{a, report("r1", 1, `"rtt":"fast"`)},                                     // wrong type
		{a, report("r1", 1, `"loss":150`)},                                       // out of range
		{a, report("r1", 1, `"localCandidate":"carrier-pigeon"`)},                // unknown name
		{b, `{"command":"qualityReport","streamId":"r1"}`},                       // no seq
		{b, `{"streamId":"r1","seq":1,"command":"qualityReport","rtt":{"a":1}}`}, // another order, still checked
		{b, report("elsewhere", 1, `"rtt":20`)},                                  // not in that room
		{c, report("r2", 1, `"rtt":20`)},                                         // no partner to hear it: taken, not relayed
	} {
		bad.from.Send(bad.report)
	}
	wstest.Eventually(t, "malformed reports counted", func() bool {
		return dropped("too_large") == 1 && dropped("invalid") == 5 && dropped("not_in_call") == 1 && dropped("rate") == 0
	})
	c.Quiet()
	// A flood, well past the socket's message rate limit: reports beyond
	// the report rate are dropped, and the socket is not closed for them.
	for i := 1; i <= 500; i++ {
		a.Send(report("r1", i, `"rtt":20`))
	}
	wstest.Eventually(t, "the flood counted", func() bool { return dropped("rate") >= 490 })
	a.Quiet() // no error went to the hostile client for any of it
	a.Send(wstest.Msg{"command": "takeConfiguration", "streamId": "r1", "type": "offer", "sdp": "v=0"})
	b.Expect("takeConfiguration", "")
	if n := e.metricSum(t, `duet_quality_reports_total{app="q"}`); n < 1 || n > 10 {
		t.Fatalf("reports taken = %v", n)
	}
}
