package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The helpers of the "calls that stay up" tests: a watch on a call in a
// demo page tab that measures what a person would notice when something
// fails underneath — a pause of the remote video, a new peer connection,
// the partner being told we left — and a numbered data stream that shows
// whether a data-channel message was lost.

// watchJS installs, in a demo tab, a monitor of the remote video's frame
// callbacks (requestVideoFrameCallback: called for every frame presented,
// in a visible window) and of the signaling messages, and remembers the
// current RTCPeerConnection.
const watchJS = `(() => {
  if (window.watch) return true;
  const v = document.getElementById('remote-video');
  const w = window.watch = { reset_at: performance.now(), last: performance.now(), max: 0, frames: 0, pc: duetDemo.call.pc, in: [], states: [] };
  let handle = 0;
  const frame = (now) => {
    w.max = Math.max(w.max, now - w.last);
    w.last = now;
    w.frames++;
    handle = v.requestVideoFrameCallback(frame);
  };
  handle = v.requestVideoFrameCallback(frame);
  // A safeguard for the measurement: should a pending frame callback ever
  // be dropped while frames go on being shown, asking again every 100 ms
  // keeps the count going. Where no frame is shown, asking again changes
  // nothing, so a real pause is measured all the same.
  setInterval(() => {
    if (performance.now() - w.last < 250) return;
    v.cancelVideoFrameCallback(handle);
    handle = v.requestVideoFrameCallback(frame);
  }, 100);
  duetDemo.call.on('signal', ({ dir, msg }) => {
    if (dir !== 'in' || ['ping', 'pong', 'takeCandidate'].includes(msg.command)) return;
    w.in.push([msg.command, msg.definition || msg.type || '', msg.reason || ''].filter(Boolean).join(':'));
  });
  duetDemo.call.on('state', ({ state }) => w.states.push(state));
  // What the engine did, ms after the reset: the story a failed check tells.
  w.log = [];
  const note = (what) => { if (w.log.length < 60) w.log.push(Math.round(performance.now() - w.reset_at) + ' ' + what); };
  duetDemo.call.on('iceRestart', ({ reason }) => note('iceRestart:' + reason));
  duetDemo.call.on('mediaTrouble', ({ reason }) => { const p = duetDemo.call.link && duetDemo.call.link.path; note('trouble:' + reason + (p ? ' limit:' + p._limit() : '')); });
  duetDemo.call.on('mediaRecovered', ({ after }) => note('recovered:' + after));
  duetDemo.call.on('connectionState', (d) => note('pc:' + (d.state || JSON.stringify(d))));
  duetDemo.call.on('signaling', ({ state }) => note('socket:' + state));
  let ice = '';
  setInterval(() => { const pc = duetDemo.call.pc; if (pc && pc.iceConnectionState !== ice) { ice = pc.iceConnectionState; note('ice:' + ice); } }, 50);
  duetDemo.call.on('signal', ({ dir, msg }) => { if (msg.command === 'takeConfiguration') note(dir + ':' + msg.type); });
  w.reset = () => { w.max = 0; w.frames = 0; w.reset_at = w.last = performance.now(); w.in = []; w.states = []; w.log = []; const p = duetDemo.call.link && duetDemo.call.link.path; if (p) note('limit:' + p._limit() + ' silences:' + p.silences.map(x => x[1]).join(',')); return true; };
  // The largest pause so far, counting the one still going on.
  w.read = () => JSON.stringify({ max: Math.round(Math.max(w.max, performance.now() - w.last)), frames: w.frames,
    samePC: duetDemo.call.pc === w.pc, in: w.in, states: w.states, state: duetDemo.call.state, signaling: duetDemo.call.signaling, log: w.log });
  return true;
})()`

// watchReport is what watch.read() returns.
type watchReport struct {
	Max     float64  `json:"max"`    // largest pause between presented frames, ms
	Frames  int      `json:"frames"` // frames presented since the reset
	SamePC  bool     `json:"samePC"` // still the peer connection of the install
	In      []string `json:"in"`     // signaling messages received since the reset (command:definition:reason)
	States  []string `json:"states"` // the call's states since the reset
	State   string   `json:"state"`
	Signals string   `json:"signaling"`
	Log     []string `json:"log"` // the engine's events, ms after the reset
}

func (r watchReport) received(prefix string) bool {
	for _, m := range r.In {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// callWatch watches both tabs of a call.
type callWatch struct {
	t     testing.TB
	names []string
	tabs  []context.Context
}

func watchCall(t testing.TB, names []string, tabs ...context.Context) *callWatch {
	t.Helper()
	for _, tab := range tabs {
		waitJS(t, tab, "!!(duetDemo.call && duetDemo.call.pc)")
		evalJS[bool](t, tab, watchJS)
	}
	w := &callWatch{t: t, names: names, tabs: tabs}
	// A test that fails before its check (waiting for a rejoin, say) still
	// tells what each engine did.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, tab := range tabs {
			s, err := chromedp.Run(tab, chromedp.Evaluate[string]("watch.read()"))
			if err != nil {
				t.Logf("%s: no timeline: %v", names[i], err)
				continue
			}
			var r watchReport
			_ = json.Unmarshal([]byte(s), &r)
			t.Logf("%s: state %s, signaling %s, received %v, timeline %v", names[i], r.State, r.Signals, r.In, r.Log)
		}
	})
	return w
}

func (w *callWatch) reset() {
	for _, tab := range w.tabs {
		evalJS[bool](w.t, tab, "watch.reset()")
	}
}

func (w *callWatch) read(i int) watchReport {
	var r watchReport
	s := evalJS[string](w.t, w.tabs[i], "watch.read()")
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		w.t.Fatalf("watch report %q: %v", s, err)
	}
	return r
}

// check fails the test if, since the last reset, a tab's remote video
// paused longer than maxGap, its call moved to another peer connection,
// or it was told the partner left (stop). It returns the reports.
func (w *callWatch) check(label string, maxGap time.Duration) []watchReport {
	w.t.Helper()
	var out []watchReport
	for i := range w.tabs {
		r := w.read(i)
		w.t.Logf("%s: %s: largest video pause %.0f ms (%d frames), same peer connection %v, received %v",
			label, w.names[i], r.Max, r.Frames, r.SamePC, r.In)
		if r.Max > float64(maxGap.Milliseconds()) || !r.SamePC {
			w.t.Logf("%s: %s: timeline %v", label, w.names[i], r.Log)
		}
		if !r.SamePC {
			w.t.Errorf("%s: %s: the call moved to a new RTCPeerConnection", label, w.names[i])
		}
		if r.Max > float64(maxGap.Milliseconds()) {
			w.t.Errorf("%s: %s: remote video paused %.0f ms, more than %v", label, w.names[i], r.Max, maxGap)
		}
		if r.received("stop") {
			w.t.Errorf("%s: %s: was sent stop: %v", label, w.names[i], r.In)
		}
		if slices.Contains(r.States, "waiting") {
			w.t.Errorf("%s: %s: showed \"Waiting for peer\" (states %v)", label, w.names[i], r.States)
		}
		out = append(out, r)
	}
	return out
}

// streamJS sets up a numbered data stream (stream.start() starts it): every 40 ms a 4-byte sequence
// number over the data channel (binary, so the demo's chat ignores it),
// and counts the ones that arrive from the partner out of order.
const streamJS = `(() => {
  if (window.stream) return true;
  const s = window.stream = { sent: 0, got: 0, bad: [], error: null };
  duetDemo.call.on('message', ({ data }) => {
    if (!(data instanceof ArrayBuffer) || data.byteLength !== 4) return;
    const n = new DataView(data).getUint32(0);
    if (n !== s.got + 1 && s.bad.length < 20) s.bad.push(s.got + '→' + n);
    s.got = n;
  });
  s.start = () => {
    s.timer = setInterval(() => {
      const b = new ArrayBuffer(4);
      new DataView(b).setUint32(0, s.sent + 1);
      try { duetDemo.call.send(b); s.sent++; } catch (err) { s.error = String(err); clearInterval(s.timer); }
    }, 40);
    return true;
  };
  s.stop = () => { clearInterval(s.timer); return s.sent; };
  return true;
})()`

// startStreams starts a numbered stream in each direction between a and b.
func startStreams(t testing.TB, a, b context.Context) {
	t.Helper()
	// Both ends listen before either sends: a message that came before
	// the other tab's listener was counted lost.
	for _, tab := range []context.Context{a, b} {
		waitJS(t, tab, "duetDemo.chatOpen === true")
		evalJS[bool](t, tab, streamJS)
	}
	for _, tab := range []context.Context{a, b} {
		evalJS[bool](t, tab, "stream.start()")
	}
}

// checkStreams stops both streams and checks that every message sent
// arrived, in order, with the channel never closed.
func checkStreams(t testing.TB, names [2]string, a, b context.Context) {
	t.Helper()
	tabs := [2]context.Context{a, b}
	var sent [2]int
	for i, tab := range tabs {
		sent[i] = evalJS[int](t, tab, "stream.stop()")
		if e := evalJS[string](t, tab, "stream.error || ''"); e != "" {
			t.Errorf("%s could not send on the data channel: %s", names[i], e)
		}
	}
	for i := range tabs {
		other := tabs[1-i]
		waitJS(t, other, fmt.Sprintf("stream.got === %d", sent[i]))
		if bad := evalJS[string](t, other, "stream.bad.join(', ')"); bad != "" {
			t.Errorf("%s → %s: messages out of order or lost: %s", names[i], names[1-i], bad)
			continue
		}
		t.Logf("%s → %s: %d numbered messages, all delivered in order", names[i], names[1-i], sent[i])
	}
}
