package e2e

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/netip"
	"testing"

	"github.com/duet-rtc/duet/web"

	"github.com/chromedp/chromedp"

	"github.com/duet-rtc/duet/certs"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/browsertest"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// TestDemoCallOverHTTPS is the phone-on-the-LAN case of --tls-self-signed:
// the page is opened by a name that is not localhost (so only HTTPS makes
// it a secure context where the camera may be used), the browser has
// accepted the self-signed certificate once (Chromium is told to trust its
// public key, as a click through the warning does), one person types the
// http:// URL and is redirected on the same port, and the call runs over
// wss:// with video and chat both ways.
func TestDemoCallOverHTTPS(t *testing.T) {
	const lanName = "duet-lan.test" // resolved by Chromium to 127.0.0.1 only
	src, err := certs.New(config.Config{TLSSelfSigned: true, DataDir: t.TempDir(), TLSHSTS: "auto"}, certs.Options{
		Hosts: func() certs.Hosts {
			return certs.Hosts{Names: []string{lanName, "localhost"}, IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testserver.Config()
	srv := testserver.Start(t, cfg, server.Options{Mount: web.Mount, TLS: src.TLS, HSTS: src.HSTS})
	_, port, _ := net.SplitHostPort(srv.Addr)

	browser := browsertest.Browser(t,
		chromedp.Flag("host-resolver-rules", "MAP "+lanName+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(src.SelfSigned.Leaf())))
	laptop := openDemo(t, browser, "https://"+lanName+":"+port+"/?room=lan")
	waitJS(t, laptop, "duetDemo.state === 'waiting'")
	// The phone's person typed http://: the same port sends it to https.
	phone := browsertest.NewTab(t, browser)
	if err := chromedp.Do(phone, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate("http://"+lanName+":"+port+"/?room=lan")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, phone, "!!window.duetDemo")
	waitJS(t, phone, "duetDemo.state === 'connected'")
	waitJS(t, laptop, "duetDemo.state === 'connected'")
	secure := `location.protocol === 'https:' && window.isSecureContext && duetDemo.call.url.startsWith('wss://` + lanName + `:` + port + `/')`
	if !evalJS[bool](t, laptop, secure) || !evalJS[bool](t, phone, secure) {
		t.Fatalf("not a secure context over wss: laptop %s, phone %s", evalJS[string](t, laptop, "location.href"), evalJS[string](t, phone, "location.href"))
	}
	waitVideoPlaying(t, laptop)
	waitVideoPlaying(t, phone)
	chat(t, phone, laptop, "hello from the phone")
	chat(t, laptop, phone, "hello from the laptop")
}

// spkiHash is what Chromium's --ignore-certificate-errors-spki-list takes:
// base64 of the SHA-256 of the certificate's public key info.
func spkiHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
