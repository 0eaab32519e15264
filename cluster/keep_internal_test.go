package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

// TestFramesSentBackToTheKeeper: a frame that a member relayed to its
// partner just before its node heard that the partner's seat is held
// reaches the holding node after the socket is gone. That node sends it
// back, and the sender's node keeps it ahead of what it kept since: the
// partner, back on a third node, gets both in the order they were sent.
// The race cannot be forced from outside, so the test hands the late
// frame to the holding node itself, as its link would.
func TestFramesSentBackToTheKeeper(t *testing.T) {
	ns, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	var cls []*Cluster
	var srvs []*testserver.Server
	for i := range 3 {
		cl, err := New(context.Background(), Options{URL: ns.URL(), NodeID: fmt.Sprintf("n%d", i+1), ReconnectGrace: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close) // after the server's drain, registered next
		cls = append(cls, cl)
		srvs = append(srvs, testserver.Start(t, testserver.Config(), server.Options{Rooms: cl}))
	}
	join := func(c *wstest.Client, session, token string) wstest.Msg {
		m := wstest.Msg{"command": "join", "streamId": "r", "session": session, "resumable": true}
		if token != "" {
			m["resumeToken"] = token
		}
		c.Send(m)
		return c.Expect("notification", "joined")
	}
	a, b := wstest.Dial(t, srvs[0].URL("live")), wstest.Dial(t, srvs[1].URL("live"))
	join(a, "sa", "")
	tok := join(b, "sb", "").Str("resumeToken")
	a.Expect("start", "")
	k := hub.Key{App: "live", Stream: "r"}
	val, _, err := cls[0].load(context.Background(), roomKey(k))
	if err != nil {
		t.Fatal(err)
	}
	st := decodeRoom(val)
	ms := st.Members()
	aID, bID := ms[0].Member, ms[1].Member

	b.WS.Close()
	a.Expect("notification", "peerReconnecting")
	wstest.Eventually(t, "n2 to watch the hold", func() bool { return cls[1].watching(k, bID) })
	_, bNum, _ := splitMember(bID)
	early := `{"command":"takeCandidate","streamId":"r","label":0,"id":"0","candidate":"early"}`
	cls[1].deliverFrame(bNum, aID, k, hub.Lend([]byte(early)))
	a.Send(wstest.Msg{"command": "takeCandidate", "streamId": "r", "label": 0, "id": "0", "candidate": "late"})
	_, aNum, _ := splitMember(aID)
	wstest.Eventually(t, "both frames kept on n1", func() bool {
		m := cls[0].memberByNum(aNum)
		m.mu.Lock()
		defer m.mu.Unlock()
		s := m.seats[k]
		return s != nil && s.keep.Len() == 2
	})

	b2 := wstest.Dial(t, srvs[2].URL("live"))
	if j := join(b2, "sb", tok); j["resumed"] != true {
		t.Fatalf("joined = %v", j)
	}
	for _, want := range []string{"early", "late"} {
		if m := b2.Expect("takeCandidate", ""); m.Str("candidate") != want {
			t.Fatalf("got %v, want candidate %s", m, want)
		}
	}
	a.Expect("notification", "peerReconnected")
	b2.Quiet()
}
