package e2e

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/netlab"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
	"github.com/duet-rtc/duet/web"
)

// lossPrefix names this test's namespaces and links (netlab sweeps what
// a crashed run left).
const lossPrefix = "dq24n"

// lossTable is the nftables table that drops packets in the phone's
// namespace.
const lossTable = "dq24loss"

// dropUDP makes the phone's namespace drop pct percent of the UDP
// packets it receives, at random (nftables numgen), until undone.
func dropUDP(t *testing.T, ns string, pct int) {
	t.Helper()
	rules := fmt.Sprintf(`table inet %s {
	chain in {
		type filter hook input priority filter; policy accept;
		meta l4proto udp numgen random mod 100 < %d drop
	}
}
`, lossTable, pct)
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
}

func stopDropping(t *testing.T, ns string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", lossTable).CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
}

// TestQualityUnderLoss: a call between a "phone" (Chromium in a network
// namespace) and a "laptop" (Chromium on the host). An nftables rule
// drops a quarter of the UDP the phone receives: the loss shows in the
// phone's reports, and the laptop's quality event turns poor for the
// phone's end; when the rule goes, it turns better.
func TestQualityUnderLoss(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Fatal(err) // the suite runs as root (make test); a network test that cannot run must say so
	}
	ph := netlab.NewPhone(t, lossPrefix)
	cfg := config.Default()
	cfg.DrainTimeout = 5 * time.Second
	srv := testserver.StartOn(t, netip.AddrPortFrom(ph.Server, 0).String(), cfg, server.Options{Mount: web.Mount})
	origin := "http://" + srv.Addr
	secure := chromedp.Flag("unsafely-treat-insecure-origin-as-secure", origin)
	phoneBrowser := browsertest.Browser(t, secure,
		chromedp.Flag("allow-loopback-in-peer-connection", false),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { ph.Command(cmd) }))
	laptopBrowser := browsertest.Browser(t, secure)
	url := origin + "/?quality=1000&room=lossy"
	phone := openDemo(t, phoneBrowser, url)
	waitJS(t, phone, "duetDemo.state === 'waiting'")
	laptop := openDemo(t, laptopBrowser, url)
	waitJS(t, phone, "duetDemo.state === 'connected'")
	waitJS(t, laptop, "duetDemo.state === 'connected'")
	waitVideoPlaying(t, laptop)
	waitVideoPlaying(t, phone)
	// A clean network first: the phone's end is not poor.
	waitJS(t, laptop, "duetDemo.quality && ['good', 'fair'].includes(duetDemo.quality.remote)")

	t.Cleanup(func() { exec.Command("ip", "netns", "exec", ph.NS, "nft", "delete", "table", "inet", lossTable).Run() })
	dropUDP(t, ph.NS, 25)
	since := evalJS[float64](t, laptop, "Date.now()")
	// The laptop hears that the phone receives poorly; the phone sees it
	// itself.
	waitJS(t, laptop, fmt.Sprintf("duetDemo.qualityLog.some(q => q.t > %f && q.remote === 'poor')", since))
	waitJS(t, phone, fmt.Sprintf("duetDemo.qualityLog.some(q => q.t > %f && q.local === 'poor')", since))
	// The server holds the loss the phone reported.
	maxLoss := 0.0
	for _, q := range srv.Quality().Local(nil) {
		if q.LossPct != nil {
			maxLoss = max(maxLoss, q.LossPct.Max)
		}
	}
	if maxLoss < 5 {
		t.Fatalf("the largest loss reported is %.1f %%, want 5 or more", maxLoss)
	}
	t.Logf("the phone reported up to %.1f %% loss", maxLoss)

	stopDropping(t, ph.NS)
	since = evalJS[float64](t, laptop, "Date.now()")
	waitJS(t, laptop, fmt.Sprintf("duetDemo.qualityLog.some(q => q.t > %f && ['good', 'fair'].includes(q.remote))", since))
	waitJS(t, laptop, "duetDemo.state === 'connected'")
}
