package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/web"
)

// meshPage joins a mesh room with duet.js's DuetMesh, sending the fake
// camera and microphone with an uplink budget, and shows every member's
// video in a <video> of its own. Its state is in window.t.
const meshPage = `<!doctype html><meta charset="utf-8"><title>mesh test</title><body>
<script type="module">
import { DuetMesh } from '/sdk/duet.js';
const q = new URLSearchParams(location.search);
const t = window.t = { id: null, videos: {}, messages: [], errors: [], gone: [], open: {}, sig: [] };
addEventListener('error', (e) => t.errors.push('page: ' + e.message));
addEventListener('unhandledrejection', (e) => t.errors.push('page: ' + e.reason));
const localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
const mesh = t.mesh = new DuetMesh({ url: 'ws://' + location.host + '/mesh/websocket', room: q.get('room'),
  localStream, maxPeers: 5, uplinkBitrate: 1200000 });
mesh.on('track', ({ peer, track, stream, main }) => {
  if (track.kind !== 'video' || !main) return;
  let v = t.videos[peer];
  if (!v) {
    v = t.videos[peer] = document.createElement('video');
    v.muted = true; v.autoplay = true; v.playsInline = true;
    document.body.append(v);
  }
  v.srcObject = stream;
  v.play().catch(() => {});
});
mesh.on('peerGone', ({ peer }) => { t.gone.push(peer); if (t.videos[peer]) { t.videos[peer].remove(); delete t.videos[peer]; } });
mesh.on('channelOpen', ({ peer }) => { t.open[peer] = true; });
mesh.on('channelClose', ({ peer }) => { delete t.open[peer]; });
mesh.on('message', ({ peer, text, data }) => t.messages.push(peer + ':' + (text ?? new TextDecoder().decode(data))));
mesh.on('error', ({ definition, message }) => t.errors.push(definition + (message ? ': ' + message : '')));
mesh.on('signal', ({ msg }) => { if (msg.command === 'start' || msg.command === 'stop' || msg.definition === 'joined') t.sig.push(msg.command + ':' + (msg.definition || '') + ':' + (msg.peer || '') + (msg.resumed ? ':resumed' : '')); });
await mesh.connect();
t.id = mesh.id;
</script>`

const meshDescribe = `JSON.stringify(window.t ? {id: t.id, videos: Object.fromEntries(Object.entries(t.videos).map(([p, v]) => [p, [v.videoWidth, v.currentTime]])),
	open: t.open, messages: t.messages, errors: t.errors, gone: t.gone, peers: [...t.mesh.peers.keys()], sig: t.sig} : 'no t')`

// decodesAll is true when the tab's videos of members want are all
// playing (a frame decoded, time advancing past 0.5 s).
func decodesAll(want []string) string {
	return fmt.Sprintf(`(() => { const w = %q.split(',').filter(Boolean); return w.every(p => t.videos[p] && t.videos[p].videoWidth > 0 && t.videos[p].currentTime > 0.5); })()`, strings.Join(want, ","))
}

// TestMeshFourTabsAndAGoPeer: four Chromium tabs with duet.js and one Go
// peer in one mesh room. Every tab decodes every other tab's video, and
// talks to the Go peer over their data channel; each tab caps its video
// senders to its uplink budget shared by the members. One tab leaves and
// a fifth takes its place: every member decodes the newcomer, and the
// newcomer everyone.
func TestMeshFourTabsAndAGoPeer(t *testing.T) {
	cfg := config.Default()
	cfg.MaxPeers = []string{"mesh=5"}
	srv := testserver.Start(t, cfg, server.Options{Mount: func(mux *http.ServeMux) {
		web.Mount(mux)
		mux.HandleFunc("GET /test/mesh", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(meshPage))
		})
	}})
	browser := browsertest.Browser(t)
	const room = "group"
	wait := func(tab context.Context, expr string) {
		t.Helper()
		browsertest.WaitJS(t, tab, expr, 60*time.Second, meshDescribe)
	}
	tabs := map[string]context.Context{}
	open := func() string {
		tab := browsertest.NewTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(srv.HTTP()+"/test/mesh?room="+room)); err != nil {
			t.Fatal(err)
		}
		wait(tab, `window.t && t.id !== null`)
		id := evalJS[string](t, tab, `t.id`)
		tabs[id] = tab
		return id
	}
	ids := []string{open(), open(), open(), open()}
	others := func(id string, of []string) []string {
		var out []string
		for _, o := range of {
			if o != id {
				out = append(out, o)
			}
		}
		return out
	}

	c, err := client.Dial(t.Context(), srv.URL("mesh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gp, err := client.JoinMesh(t.Context(), c, room, &client.MeshOptions{MaxPeers: 5, Peer: client.PeerOptions{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer gp.Close()
	goID := gp.ID()
	sessions := map[string]client.MeshSession{}
	acceptAll := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		for range n {
			s, err := gp.Accept(ctx)
			if err != nil {
				for id, tab := range tabs {
					t.Logf("tab %s: %s", id, evalJS[string](t, tab, meshDescribe))
				}
				t.Fatalf("go peer: %v (pairs %v)", err, len(gp.Peers()))
			}
			sessions[s.Peer] = s
		}
	}
	acceptAll(4)
	for _, id := range ids {
		wait(tabs[id], decodesAll(others(id, ids)))
		wait(tabs[id], fmt.Sprintf(`t.open[%q] === true`, goID))
	}
	// The Go peer and the tabs talk over their pairs' data channels.
	if n, err := gp.Broadcast(t.Context(), []byte("hello from go")); n != 4 || err != nil {
		t.Fatalf("broadcast reached %d: %v", n, err)
	}
	for _, id := range ids {
		wait(tabs[id], fmt.Sprintf(`t.messages.includes(%q)`, goID+":hello from go"))
		if _, err := chromedp.Run(tabs[id], chromedp.Evaluate[any](fmt.Sprintf(`t.mesh.send('from %s'), 1`, id))); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		m, err := sessions[id].Recv(ctx)
		cancel()
		if err != nil || string(m.Data) != "from "+id {
			t.Fatalf("go peer from %s: %q %v", id, m.Data, err)
		}
	}
	// Each video sender is capped at the budget shared by the 4 others
	// (the Go peer is sent the video too: it answered the tab's offer).
	caps := evalJS[string](t, tabs[ids[0]], `[...t.mesh.peers.values()].flatMap(p => p.pc.getSenders()).filter(s => s.track && s.track.kind === 'video').map(s => s.getParameters().encodings[0].maxBitrate).join(',')`)
	if caps != "300000,300000,300000,300000" {
		t.Errorf("video senders' maxBitrate: %q, want 1200000 / 4 for each of the 4 members", caps)
	}

	// One leaves; a fifth takes its place.
	gone := ids[1]
	if _, err := chromedp.Run(tabs[gone], chromedp.Evaluate[any](`t.mesh.leave(), 1`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sessions[gone].Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the go peer's session with the tab that left did not end")
	}
	delete(tabs, gone)
	stay := []string{ids[0], ids[2], ids[3]}
	for _, id := range stay {
		wait(tabs[id], fmt.Sprintf(`t.gone.includes(%q) && !t.videos[%q]`, gone, gone))
	}
	fresh := open()
	now := append(append([]string(nil), stay...), fresh)
	acceptAll(1)
	for _, id := range now {
		wait(tabs[id], decodesAll(others(id, now)))
		wait(tabs[id], fmt.Sprintf(`t.open[%q] === true`, goID))
	}
	for _, id := range now {
		if errs := evalJS[string](t, tabs[id], `t.errors.join(',')`); errs != "" {
			t.Errorf("tab %s: errors %s", id, errs)
		}
	}
}
