package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/web"
)

// meshWaitPage is meshPage that, given wait=1, loads and opens the camera
// but joins only when the test calls go(): so that its join lands while
// the others are renegotiating. It also shows the other members' extra
// (not main) video tracks, in t.extra by member.
var meshWaitPage = strings.Replace(meshPage, `await mesh.connect();`, `t.extra = {};
mesh.on('track', ({ peer, track, stream, main }) => {
  if (track.kind !== 'video' || main) return;
  const v = t.extra[peer] = document.createElement('video');
  v.muted = true; v.autoplay = true; v.playsInline = true; v.srcObject = stream;
  document.body.append(v);
  v.play().catch(() => {});
});
const t0 = performance.now();
const at = (s) => t.sig.push(Math.round(performance.now() - t0) + 'ms ' + s);
mesh.on('negotiation', (d) => at('negotiation:' + d.peer + ':' + d.event));
mesh.on('signal', ({ msg }) => {
  if (msg.command === 'start') at('start:' + msg.peer);
  if (msg.command === 'takeConfiguration') at(msg.type + ' from ' + msg.peer);
});
if (q.get('wait')) await new Promise((go) => { window.go = go; });
await mesh.connect();`, 1)

// addCanvasJS sends member %q a second video (a canvas drawn at 30 fps)
// on the call that exists with it: a renegotiation of that pair only.
const addCanvasJS = `(() => {
  const c = document.createElement('canvas'); c.width = 320; c.height = 240;
  const g = c.getContext('2d'); let n = 0;
  setInterval(() => { g.fillStyle = 'hsl(' + (n++ * 7 %% 360) + ',80%%,50%%)'; g.fillRect(0, 0, 320, 240); }, 33);
  const s = c.captureStream(30);
  t.mesh.peers.get(%q).addTrack(s.getVideoTracks()[0], s);
  return true;
})()`

// TestMeshNewcomerDuringRenegotiationBrowsers: two Chromium tabs in a mesh
// room each add a second video for the other at the same moment (both
// offer on their pair's connection: offers may cross), while a third tab
// joins. Nobody fails on glare: every member is connected to every other,
// decodes every other's camera, and the two decode each other's second
// video, on the connection they had.
func TestMeshNewcomerDuringRenegotiationBrowsers(t *testing.T) {
	cfg := config.Default()
	cfg.MaxPeers = []string{"mesh=5"}
	srv := testserver.Start(t, cfg, server.Options{Mount: func(mux *http.ServeMux) {
		web.Mount(mux)
		mux.HandleFunc("GET /test/mesh", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(meshWaitPage))
		})
	}})
	browser := browsertest.Browser(t)
	wait := func(tab context.Context, expr string) {
		t.Helper()
		browsertest.WaitJS(t, tab, expr, 60*time.Second, meshDescribe+` + ' extra: ' + JSON.stringify(Object.fromEntries(Object.entries(t.extra || {}).map(([p, v]) => [p, [v.videoWidth, v.currentTime]])))`)
	}
	open := func(query string) context.Context {
		tab := browsertest.NewTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(srv.HTTP()+"/test/mesh?room=reneg"+query)); err != nil {
			t.Fatal(err)
		}
		return tab
	}
	a := open("")
	wait(a, `window.t && t.id !== null`)
	b := open("")
	wait(b, `window.t && t.id !== null`)
	idA, idB := evalJS[string](t, a, `t.id`), evalJS[string](t, b, `t.id`)
	wait(a, decodesAll([]string{idB}))
	wait(b, decodesAll([]string{idA}))
	pcs := `window.pcBefore = t.mesh.peers.get(%q).pc, true`
	evalJS[bool](t, a, fmt.Sprintf(pcs, idB))
	evalJS[bool](t, b, fmt.Sprintf(pcs, idA))

	c := open("&wait=1")
	wait(c, `typeof window.go === 'function'`)
	// All three at once: a's and b's offers on their pair, c's join.
	for _, step := range []struct {
		tab context.Context
		js  string
	}{{c, `go(), true`}, {a, fmt.Sprintf(addCanvasJS, idB)}, {b, fmt.Sprintf(addCanvasJS, idA)}} {
		if _, err := chromedp.Run(step.tab, chromedp.Evaluate[any](step.js)); err != nil {
			t.Fatal(err)
		}
	}
	wait(c, `t.id !== null`)
	idC := evalJS[string](t, c, `t.id`)
	all := map[string]context.Context{idA: a, idB: b, idC: c}
	for id, tab := range all {
		var others []string
		for o := range all {
			if o != id {
				others = append(others, o)
			}
		}
		wait(tab, decodesAll(others))
		wait(tab, `[...t.mesh.peers.values()].length === 2 && [...t.mesh.peers.values()].every((p) => p.state === 'connected')`)
	}
	extra := `t.extra[%q] && t.extra[%q].videoWidth > 0 && t.extra[%q].currentTime > 0.5`
	wait(a, fmt.Sprintf(extra, idB, idB, idB))
	wait(b, fmt.Sprintf(extra, idA, idA, idA))
	if !evalJS[bool](t, a, fmt.Sprintf(`t.mesh.peers.get(%q).pc === window.pcBefore`, idB)) ||
		!evalJS[bool](t, b, fmt.Sprintf(`t.mesh.peers.get(%q).pc === window.pcBefore`, idA)) {
		t.Error("a and b's call moved to a new RTCPeerConnection")
	}
	for id, tab := range all {
		t.Logf("tab %s: %s", id, evalJS[string](t, tab, `t.sig.join(' | ')`))
		if errs := evalJS[string](t, tab, `t.errors.join(',')`); errs != "" {
			t.Errorf("tab %s: errors %s", id, errs)
		}
		if gone := evalJS[string](t, tab, `t.gone.join(',')`); gone != "" {
			t.Errorf("tab %s: members shown leaving: %s", id, gone)
		}
	}
}
