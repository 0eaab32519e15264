package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// maxRelayRestartGap is the bar for a server restart when the
// call is relayed through that server's embedded TURN: the relay dies
// with the process, so media must move to the new process's TURN (1.2-1.3
// s of frozen video with a fixed secret before, and no call at all once
// the secret was random per process).
const maxRelayRestartGap = 1500 * time.Millisecond

// pairJS reads the selected candidate pair of a tab's call: the types and
// addresses of both ends.
const pairJS = `duetDemo.call.pc.getStats().then(s => {
  let out = null;
  s.forEach(r => {
    if (r.type !== 'transport' || !r.selectedCandidatePairId) return;
    const p = s.get(r.selectedCandidatePairId), l = s.get(p.localCandidateId), rc = s.get(p.remoteCandidateId);
    out = { local: l.candidateType, remote: rc.candidateType, localAddr: l.address + ':' + l.port,
      remoteAddr: rc.address + ':' + rc.port, relayProtocol: l.relayProtocol || '', url: l.url || '' };
  });
  return JSON.stringify(out);
})`

type selectedPair struct {
	Local, Remote      string
	LocalAddr          string
	RemoteAddr         string
	RelayProtocol, URL string
}

func readPair(t testing.TB, tab context.Context) selectedPair {
	t.Helper()
	var p selectedPair
	s := evalAsync[string](t, tab, pairJS)
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatalf("selected pair %q: %v", s, err)
	}
	return p
}

// wantRelayed fails unless both ends of the tab's selected pair are relay
// candidates of the TURN server at turn (host:port).
func wantRelayed(t testing.TB, name string, tab context.Context, turn string) {
	t.Helper()
	p := readPair(t, tab)
	t.Logf("%s: selected pair %s %s → %s %s (%s via %s)", name, p.Local, p.LocalAddr, p.Remote, p.RemoteAddr, p.RelayProtocol, p.URL)
	if p.Local != "relay" || p.Remote != "relay" {
		t.Errorf("%s: the selected pair is %s → %s, want relay → relay", name, p.Local, p.Remote)
	}
}

// TestRelayedCallSurvivesServerRestart: two relay-only tabs (every path
// through TURN, as behind symmetric NATs) in a call through the embedded
// TURN server of the real binary, with a TURN secret new with every
// process (the one it keeps in its data directory removed before each
// restart, as a rotation would), so the credentials both tabs hold are
// refused by the next process. The server is drained and restarted on its
// ports, then killed
// (kill -9) and restarted. Each time both tabs fetch fresh ICE servers on
// the new socket, apply them to the same RTCPeerConnection and restart ICE
// through the new TURN at once: the remote video pauses at most 1.5 s, no
// tab ever shows "Waiting for peer", and the chat still works.
func TestRelayedCallSurvivesServerRestart(t *testing.T) {
	srv := startDuet(t, buildDuet(t), "127.0.0.1:0", "--drain-timeout", "3s",
		"--turn-enabled", "--turn-listen", "127.0.0.1:0", "--turn-allow-private-peers")
	if srv.turn == "" {
		t.Fatal("duet did not say where its TURN server listens")
	}
	browser := browsertest.Browser(t)
	url := srv.http() + "/?room=relayed&relay"

	alice := openDemo(t, browser, url)
	waitJS(t, alice, "duetDemo.state === 'waiting'")
	bob := openDemo(t, browser, url)
	waitInCall(t, alice, bob)
	wantRelayed(t, "alice", alice, srv.turn)
	wantRelayed(t, "bob", bob, srv.turn)
	call := watchCall(t, []string{"alice", "bob"}, alice, bob)
	chat(t, alice, bob, "relayed, before the restarts")

	for i, fault := range []string{"drain", "kill"} {
		call.reset()
		start := time.Now()
		if fault == "drain" {
			srv.drain(t)
		} else {
			srv.kill(t)
		}
		srv.rotateTURNSecret(t)
		srv.restart(t)
		t.Logf("%s: server back after %v", fault, time.Since(start).Round(time.Millisecond))
		rejoined(t, i+2, alice, bob)
		waitVideoPlaying(t, alice)
		waitVideoPlaying(t, bob)
		call.check(fault, maxRelayRestartGap)
		wantRelayed(t, "alice", alice, srv.turn)
		wantRelayed(t, "bob", bob, srv.turn)
		chat(t, alice, bob, "relayed, after the "+fault)
		chat(t, bob, alice, "still relayed after the "+fault)
	}
	for _, tab := range []context.Context{alice, bob} {
		if n := evalJS[int](t, tab, "duetDemo.counts.peerLeft"); n != 0 {
			t.Errorf("the demo showed 'peer left' %d times", n)
		}
	}
}
