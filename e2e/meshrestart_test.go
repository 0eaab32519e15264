package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// groupWatchJS measures, in a group page tab, the largest pause between
// presented frames of every other member's tile (by the member's session,
// which survives a server restart; its id does not), and remembers each
// member's RTCPeerConnection.
const groupWatchJS = `(() => {
  const g = duetGroup;
  const w = window.gwatch = { tiles: {}, pcs: {} };
  for (const [id, call] of g.mesh.peers) {
    const s = call.peerSession, v = g.tiles[id].video;
    const m = w.tiles[s] = { last: performance.now(), max: 0, frames: 0 };
    const frame = (now) => { m.max = Math.max(m.max, now - m.last); m.last = now; m.frames++; v.requestVideoFrameCallback(frame); };
    v.requestVideoFrameCallback(frame);
    w.pcs[s] = call.pc;
  }
  w.reset = () => { for (const m of Object.values(w.tiles)) { m.max = 0; m.frames = 0; m.last = performance.now(); } return true; };
  w.read = () => JSON.stringify(Object.fromEntries(Object.entries(w.tiles).map(([s, m]) => [s, {
    max: Math.round(Math.max(m.max, performance.now() - m.last)), frames: m.frames,
    samePC: [...g.mesh.peers.values()].some((c) => c.peerSession === s && c.pc === w.pcs[s]) }])));
  return true;
})()`

// groupChat sends text from tab from through the group page's chat and
// waits until every other tab shows it under the sender's name.
func groupChat(t *testing.T, tabs []context.Context, names []string, wait func(context.Context, string), from int, text string) {
	t.Helper()
	if _, err := chromedp.Run(tabs[from], chromedp.Evaluate[any](fmt.Sprintf(
		`document.getElementById('chat-input').value = %q, document.getElementById('chat-form').requestSubmit(), 1`, text))); err != nil {
		t.Fatal(err)
	}
	for i, tab := range tabs {
		if i != from {
			wait(tab, fmt.Sprintf(`duetGroup.messages.some((m) => m.who === %q && m.text === %q)`, names[from], text))
		}
	}
}

// groupMeasurable measures the tabs' tiles over a stretch without any
// fault and reports whether the machine presents frames often enough for
// the restart bar to mean anything: four tabs decoding three videos each
// may not. When it does not, the pauses are logged, not asserted (the
// rejoins, recognition and kept connections still are).
func groupMeasurable(t *testing.T, tabs []context.Context, names []string) bool {
	t.Helper()
	watchFor(t, tabs, 5*time.Second)
	baseline := 0.0
	for k, tab := range tabs {
		s := evalJS[string](t, tab, "gwatch.read()")
		var rep map[string]struct{ Max float64 }
		json.Unmarshal([]byte(s), &rep)
		for _, r := range rep {
			baseline = max(baseline, r.Max)
		}
		t.Logf("baseline: %s: %s", names[k], s)
	}
	if baseline > float64(maxRestartGap.Milliseconds()) {
		t.Logf("without any fault a tile's video already paused %.0f ms: this machine is too loaded to hold the restarts to the %v bar; the pauses are logged, not asserted", baseline, maxRestartGap)
		return false
	}
	return true
}

// watchFor lets every tab's gwatch measure d more of the call (on the
// page's clock: the measured stretch itself).
func watchFor(t *testing.T, tabs []context.Context, d time.Duration) {
	t.Helper()
	for _, tab := range tabs {
		evalJS[bool](t, tab, "gwatch.mark = performance.now(), true")
	}
	for _, tab := range tabs {
		browsertest.WaitJS(t, tab, fmt.Sprintf("performance.now() - gwatch.mark > %d", d.Milliseconds()), d+30*time.Second, groupDescribe)
	}
}

const groupDescribe = `JSON.stringify(window.duetGroup ? {state: duetGroup.state, id: duetGroup.id, joined: duetGroup.counts.joined,
	peers: [...duetGroup.mesh.peers.entries()].map(([id, c]) => id + ':' + c.state), tiles: Object.keys(duetGroup.tiles),
	names: duetGroup.names, speaking: duetGroup.speaking, messages: duetGroup.messages} : 'no page')`

// groupAllPlaying: every other member's tile shows video, advancing.
const groupAllPlaying = `duetGroup.mesh.peers.size === %d && [...duetGroup.mesh.peers.keys()].every((id) => {
	const t = duetGroup.tiles[id]; return t && t.video.videoWidth > 0 && t.video.currentTime > 0.5; })`

// TestGroupSurvivesServerRestart: four tabs of the group page (the real
// binary, mesh rooms allowed) see each other, with names, a speaking
// indicator and a chat to all. The server is drained and restarted, then
// killed and restarted: every tab rejoins a server that forgot the room
// (and gave everyone new ids), every pair is recognised by its session
// and kept on its RTCPeerConnection, the chat still reaches everyone, and
// no tile's video pauses longer than 500 ms — asserted where the machine
// presents frames that often without any fault (measured first).
func TestGroupSurvivesServerRestart(t *testing.T) {
	srv := startDuet(t, buildDuet(t), "127.0.0.1:0", "--drain-timeout", "3s", "--max-peers", "WebRTCAppEE=6")
	browser := browsertest.Browser(t)
	wait := func(tab context.Context, expr string) {
		t.Helper()
		browsertest.WaitJS(t, tab, expr, 90*time.Second, groupDescribe)
	}
	names := []string{"ann", "bob", "cat", "dan"}
	var tabs []context.Context
	for _, n := range names {
		tab := browsertest.NewTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(srv.http()+"/group?room=family&name="+n)); err != nil {
			t.Fatal(err)
		}
		wait(tab, `window.duetGroup && duetGroup.state === 'connected'`)
		tabs = append(tabs, tab)
	}
	for i, tab := range tabs {
		wait(tab, fmt.Sprintf(groupAllPlaying, 3))
		for j, n := range names {
			if i != j {
				wait(tab, fmt.Sprintf(`Object.values(duetGroup.names).includes(%q)`, n))
			}
		}
		// The fake microphone beeps: every tile lights up at some point.
		wait(tab, `Object.keys(duetGroup.tiles).length === 4 && Object.keys(duetGroup.tiles).every((k) => duetGroup.speaking[k] !== undefined)`)
	}
	chatAll := func(from int, text string) {
		t.Helper()
		groupChat(t, tabs, names, wait, from, text)
	}
	chatAll(0, "hello everyone")
	for _, tab := range tabs {
		evalJS[bool](t, tab, groupWatchJS)
	}
	measurable := groupMeasurable(t, tabs, names)
	for i, fault := range []string{"drain", "kill"} {
		for _, tab := range tabs {
			evalJS[bool](t, tab, "gwatch.reset()")
		}
		start := time.Now()
		if fault == "drain" {
			srv.drain(t)
		} else {
			srv.kill(t)
		}
		srv.restart(t)
		t.Logf("%s: server back after %v", fault, time.Since(start).Round(time.Millisecond))
		for _, tab := range tabs {
			wait(tab, fmt.Sprintf(`duetGroup.counts.joined >= %d && duetGroup.mesh.peers.size === 3 && [...duetGroup.mesh.peers.keys()].every((k) => !k.startsWith('~'))`, i+2))
		}
		for _, tab := range tabs {
			wait(tab, fmt.Sprintf(groupAllPlaying, 3))
		}
		watchFor(t, tabs, time.Second) // a stretch of media after the rejoin, measured too
		for k, tab := range tabs {
			var rep map[string]struct {
				Max    float64 `json:"max"`
				Frames int     `json:"frames"`
				SamePC bool    `json:"samePC"`
			}
			s := evalJS[string](t, tab, "gwatch.read()")
			if err := json.Unmarshal([]byte(s), &rep); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s: %s", fault, names[k], s)
			for sess, r := range rep {
				if !r.SamePC {
					t.Errorf("%s: %s: the call with %s moved to a new RTCPeerConnection", fault, names[k], sess)
				}
				if measurable && r.Max > float64(maxRestartGap.Milliseconds()) {
					t.Errorf("%s: %s: a tile's video paused %.0f ms, more than %v", fault, names[k], r.Max, maxRestartGap)
				}
			}
		}
		chatAll(i+1, "after the "+fault)
	}
	for k, tab := range tabs {
		if n := evalJS[int](t, tab, "duetGroup.counts.peerGone"); n != 0 {
			t.Errorf("%s: %d members were shown leaving", names[k], n)
		}
	}
}
