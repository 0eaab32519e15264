package e2e

import (
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/firefoxtest"
)

// TestFirefoxChromiumCall: a call between Firefox (stock firefox-esr,
// driven over WebDriver BiDi) and Chromium on the demo page, in both join
// orders: video both ways, chat both ways, each side's camera off and on
// again (renegotiated on the same connection), and the server (the real
// binary) drained and restarted, then killed and restarted, under the call:
// the remote video never pauses longer than 500 ms on either side, the
// peer connections stay, nobody is told the other left.
func TestFirefoxChromiumCall(t *testing.T) {
	bin := buildDuet(t)
	ff := firefoxtest.Start(t, firefoxtest.Options{})
	chrome := browsertest.Browser(t)
	for _, order := range []string{"chromium-first", "firefox-first"} {
		t.Run(order, func(t *testing.T) {
			srv := startDuet(t, bin, "127.0.0.1:0", "--drain-timeout", "3s")
			url := srv.http() + "/?room=" + order
			var first, second anyTab
			open := func(which string) anyTab {
				if which == "chromium" {
					return chromeTab{label: "chromium", ctx: openDemo(t, chrome, url)}
				}
				return openFirefoxDemo(t, ff, "firefox", url)
			}
			if order == "chromium-first" {
				first = open("chromium")
				first.wait(t, "duetDemo.state === 'waiting'")
				second = open("firefox")
			} else {
				first = open("firefox")
				first.wait(t, "duetDemo.state === 'waiting'")
				second = open("chromium")
			}
			inCall(t, first, second)
			chatAcross(t, first, second, "hello from "+first.name())
			chatAcross(t, second, first, "hello from "+second.name())

			// Renegotiation: each side's camera off, then on again.
			for _, pair := range [][2]anyTab{{first, second}, {second, first}} {
				me, other := pair[0], pair[1]
				me.eval(t, "document.getElementById('cam').click()")
				other.wait(t, "duetDemo.remote.camera === false")
				me.wait(t, "duetDemo.local.camera === false && !document.getElementById('cam').disabled")
				me.eval(t, "document.getElementById('cam').click()")
				me.wait(t, "duetDemo.local.camera === true")
				other.wait(t, "duetDemo.remote.camera === true")
				videoPlaying(t, other)
				t.Logf("%s: camera off and on again, %s sees it", me.name(), other.name())
			}

			watchTabs(t, first, second)
			for i, fault := range []string{"drain", "kill"} {
				resetWatch(t, first, second)
				if fault == "drain" {
					srv.drain(t)
				} else {
					srv.kill(t)
				}
				srv.restart(t)
				for _, tab := range []anyTab{first, second} {
					tab.wait(t, "duetDemo.counts.joined >= "+string(rune('2'+i))+" && duetDemo.call.signaling === 'open' && duetDemo.state === 'connected'")
				}
				videoPlaying(t, first)
				videoPlaying(t, second)
				checkWatch(t, fault, float64(maxRestartGap.Milliseconds()), first, second)
				chatAcross(t, first, second, "after the "+fault)
				chatAcross(t, second, first, "back after the "+fault)
			}
		})
	}
}

// TestFirefoxAutoplayPolicy: Firefox with its default autoplay policy (no
// autoplay preference relaxed) refuses to play the partner's audible video
// before the person touched the page — unless the page captures the camera
// or microphone, which a person who denied them (here: the camera and
// microphone permissions set to block) does not. The demo page then plays
// the video muted and offers a button; the video must play (frames, time
// moving), and a click (a real user gesture, through WebDriver BiDi input)
// turns the sound on.
func TestFirefoxAutoplayPolicy(t *testing.T) {
	srv := startServer(t)
	ff := firefoxtest.Start(t, firefoxtest.Options{DefaultAutoplay: true, Prefs: map[string]any{
		"media.navigator.permission.disabled": nil,
		"permissions.default.camera":          2,
		"permissions.default.microphone":      2,
	}})
	chrome := browsertest.Browser(t)
	url := roomURL(srv, "autoplay")
	alice := chromeTab{label: "chromium", ctx: openDemo(t, chrome, url)}
	alice.wait(t, "duetDemo.state === 'waiting'")
	bob := openFirefoxDemo(t, ff, "firefox", url)
	bob.wait(t, "duetDemo.media === 'none'") // joined without a camera: the permission is denied
	bob.wait(t, "duetDemo.state === 'connected' && duetDemo.autoplay !== null")
	how := evalAs[string](t, bob, "duetDemo.autoplay")
	t.Logf("firefox under its default autoplay policy: the remote video is %s", how)
	if how == "playing" {
		t.Fatal("Firefox played audible media without a user gesture: the test is not under the default autoplay policy")
	}
	bob.wait(t, "!document.getElementById('unmute').hidden")
	if how == "muted" {
		videoPlaying(t, bob) // the picture shows, muted
	}
	bob.page.Click(t, "#unmute")
	bob.wait(t, "duetDemo.autoplay === 'playing' && document.getElementById('unmute').hidden")
	v := `document.getElementById('remote-video')`
	if !evalAs[bool](t, bob, "!"+v+".muted && !"+v+".paused") {
		t.Error("after the click the remote video is muted or paused")
	}
	videoPlaying(t, bob)
	alice.wait(t, "duetDemo.state === 'connected'")
}
