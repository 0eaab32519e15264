package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

// sample reads one unlabelled gauge or counter from reg.
func sample(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			if m := f.GetMetric()[0]; m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			} else {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

// underPressure fills the server's one pending place with a connection
// that says nothing and puts another in the accept queue behind it: the
// node is under pressure until hold ends.
func underPressure(t *testing.T, s *testserver.Server, reg *prometheus.Registry) (hold, waiter net.Conn) {
	t.Helper()
	var err error
	if hold, err = net.Dial("tcp", s.Addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Close() })
	wstest.Eventually(t, "the pending place taken", func() bool { return sample(t, reg, "duet_connections_pending") == 1 })
	if waiter, err = net.Dial("tcp", s.Addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { waiter.Close() })
	wstest.Eventually(t, "a connection waiting", func() bool { return sample(t, reg, "duet_connections_pending_full") == 1 })
	return hold, waiter
}

// TestAdmissionFavoursResumingMembers: under pressure a join that carries
// a resumeToken goes straight on, while one without waits until the
// pressure has passed.
func TestAdmissionFavoursResumingMembers(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := testserver.Start(t, testserver.Config(), server.Options{Registry: reg, MaxPending: 1})
	newcomer, returning := wstest.Dial(t, s.URL("live")), wstest.Dial(t, s.URL("live"))
	hold, _ := underPressure(t, s, reg)

	fromNew := newcomer.Collect()
	newcomer.Send(msg{"command": "join", "streamId": "new-call", "resumable": true})
	wstest.Eventually(t, "the new join waiting", func() bool { return sample(t, reg, "duet_join_admission_waits_total") == 1 })
	returning.Send(msg{"command": "join", "streamId": "old-call", "resumable": true, "resumeToken": "a-token-from-before-the-restart"})
	returning.Expect("notification", "joined")
	select {
	case m := <-fromNew:
		t.Fatalf("the new join was answered before the resuming one went on, under pressure: %v", m)
	default:
	}

	hold.Close() // the pressure passes
	if m := wstest.Next(t, fromNew, 10*time.Second); m.Str("definition") != "joined" {
		t.Fatalf("the new join got %v", m)
	}
}

// TestPendingConnectionsBounded: a connection that holds a pending place
// without saying anything is closed once others wait behind it, and the
// one waiting gets its upgrade.
func TestPendingConnectionsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := testserver.Start(t, testserver.Config(), server.Options{Registry: reg, MaxPending: 1})
	hold, waiter := underPressure(t, s, reg)
	hold.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := hold.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("the silent connection was not closed: %d %v", n, err)
	}
	fmt.Fprintf(waiter, "GET /live/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	waiter.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(waiter), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("the waiting connection: %v %v", resp, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 0))
	wstest.Eventually(t, "nothing pending", func() bool { return sample(t, reg, "duet_connections_pending") == 0 })
}
