package e2e

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duet-rtc/duet/web"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// goPeerPage is a page that makes a call with duet's browser SDK, as
// served by the binary, sending the fake camera and microphone. Its state
// is in window.t for the test.
const goPeerPage = `<!doctype html><meta charset="utf-8"><title>Go peer test</title>
<script type="module">
import { DuetCall } from '/sdk/duet.js';
const room = new URLSearchParams(location.search).get('room');
const t = window.t = { messages: [], channelOpen: false, state: 'idle', error: null, call: null };
const localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
const call = t.call = new DuetCall({ url: 'ws://' + location.host + '/WebRTCAppEE/websocket', room, localStream });
call.on('state', ({ state }) => { t.state = state; });
call.on('message', ({ data, text }) => t.messages.push(text ?? '[binary ' + data.byteLength + ']'));
call.on('channelOpen', () => { t.channelOpen = true; });
call.on('channelClose', () => { t.channelOpen = false; });
call.on('error', ({ definition }) => { t.error = definition; });
await call.connect();
</script>`

const goPeerDescribe = `JSON.stringify(window.t ? {state: t.state, open: t.channelOpen, error: t.error, messages: t.messages} : 'no t')`

// TestGoPeerWithBrowser: a Go peer and Chromium running duet's browser SDK
// meet through duet, in both orders (so each side offers once). They
// exchange data-channel messages both ways, and the Go peer receives the
// browser's fake camera and microphone as RTP.
func TestGoPeerWithBrowser(t *testing.T) {
	cfg := config.Default()
	cfg.DrainTimeout = 5 * time.Second
	srv := testserver.Start(t, cfg, server.Options{Mount: func(mux *http.ServeMux) {
		web.Mount(mux)
		mux.HandleFunc("GET /test/gopeer", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(goPeerPage))
		})
	}})
	browser := browsertest.Browser(t)
	for _, goFirst := range []bool{true, false} {
		name := map[bool]string{true: "go offers", false: "browser offers"}[goFirst]
		t.Run(name, func(t *testing.T) {
			room := "gopeer-" + strconv.FormatBool(goFirst)
			var tab context.Context
			openPage := func() {
				tab = browsertest.NewTab(t, browser)
				if err := chromedp.Do(tab, chromedp.Navigate(srv.HTTP()+"/test/gopeer?room="+room)); err != nil {
					t.Fatal(err)
				}
				browsertest.WaitJS(t, tab, "!!window.t && ['waiting', 'negotiating', 'connected'].includes(t.state)", waitFor, goPeerDescribe)
			}
			if !goFirst {
				openPage()
			}
			p, rtp := goPeerForBrowser(t, srv.URL("WebRTCAppEE"), room)
			if goFirst {
				openPage()
			}
			ctx, cancel := context.WithTimeout(t.Context(), waitFor)
			defer cancel()
			s, err := p.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Offerer() != goFirst {
				t.Fatalf("go offered: %v, want %v", s.Offerer(), goFirst)
			}
			browsertest.WaitJS(t, tab, "t.channelOpen && t.state === 'connected'", waitFor, goPeerDescribe)

			// Data both ways.
			if err := s.SendText(ctx, "hello browser, Go here"); err != nil {
				t.Fatal(err)
			}
			if err := s.Send(ctx, []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			browsertest.WaitJS(t, tab, `t.messages.join('|') === 'hello browser, Go here|[binary 3]'`, waitFor, goPeerDescribe)
			if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`t.call.send('hello Go, browser here'), true`)); err != nil {
				t.Fatal(err)
			}
			m, err := s.Recv(ctx)
			if err != nil || !m.IsString || string(m.Data) != "hello Go, browser here" {
				t.Fatalf("go got %q (text %v), %v", m.Data, m.IsString, err)
			}

			// The browser's camera and microphone arrive as RTP.
			const wantVideo, wantAudio = 60, 50
			for rtp.video.Load() < wantVideo || rtp.audio.Load() < wantAudio {
				select {
				case <-ctx.Done():
					t.Fatalf("RTP packets: %d video, %d audio; want %d and %d", rtp.video.Load(), rtp.audio.Load(), wantVideo, wantAudio)
				case <-time.After(20 * time.Millisecond):
				}
			}
			t.Logf("go peer received %d video and %d audio RTP packets (%s, %s)", rtp.video.Load(), rtp.audio.Load(), rtp.videoCodec.Load(), rtp.audioCodec.Load())

			// The browser leaves: the Go peer's session ends with ErrPeerLeft.
			if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`t.call.leave(), true`)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.Done():
			case <-ctx.Done():
				t.Fatal("session did not end after the browser left")
			}
			if !errors.Is(s.Err(), client.ErrPeerLeft) {
				t.Fatalf("session ended with %v", s.Err())
			}
		})
	}
}

// rtpCount counts the RTP packets a Go peer receives.
type rtpCount struct {
	video, audio           atomic.Int64
	videoCodec, audioCodec atomic.Value
}

// goPeerForBrowser joins room as a Go peer on loopback ICE that asks for
// the partner's media and counts its RTP packets.
func goPeerForBrowser(t *testing.T, url, room string) (*client.Peer, *rtpCount) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	c, err := client.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rtp := &rtpCount{}
	p, err := client.NewPeer(ctx, c, room, &client.PeerOptions{
		Loopback:  true,
		RecvMedia: true,
		OnPeerConnection: func(pc *webrtc.PeerConnection) error {
			pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				n, codec := &rtp.audio, &rtp.audioCodec
				if track.Kind() == webrtc.RTPCodecTypeVideo {
					n, codec = &rtp.video, &rtp.videoCodec
				}
				codec.Store(track.Codec().MimeType)
				for {
					if _, _, err := track.ReadRTP(); err != nil {
						return // the connection closed
					}
					n.Add(1)
				}
			})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, rtp
}
