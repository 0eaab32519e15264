package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// TestDemoCameraDenied: without camera access the page says so, joins
// receive-only, and still gets the peer's video and the chat.
func TestDemoCameraDenied(t *testing.T) {
	srv := startServer(t)
	// Chromium's fake permission prompt answers "Block" for every tab.
	blocked := browsertest.Browser(t, chromedp.Flag("use-fake-ui-for-media-stream", "deny"))
	b := browsertest.Browser(t)
	url := roomURL(srv, "no-camera")

	alice := openDemo(t, blocked, url)
	waitJS(t, alice, `duetDemo.media === 'none' && duetDemo.notice.code === 'noCamera' &&
		document.getElementById('notice').textContent.includes('denied') && duetDemo.state === 'waiting'`)

	// Alice offers (she joined first) with receive-only transceivers.
	bob := openDemo(t, b, url)
	waitJS(t, bob, `duetDemo.media === 'camera' && duetDemo.state === 'connected' &&
		document.getElementById('placeholder-text').textContent.includes('no camera')`)
	waitJS(t, alice, "duetDemo.state === 'connected'")
	waitVideoPlaying(t, alice)
	chat(t, bob, alice, "can you see me?")
	chat(t, alice, bob, "yes, and you cannot see me")
}
