package turnserver_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	pionice "github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

// callPeer is one side of a call: a signaling socket to duet and a pion
// peer connection that may only use relay candidates.
type callPeer struct {
	t    *testing.T
	ws   *wstest.Client
	msgs <-chan wstest.Msg
	pc   *webrtc.PeerConnection
	got  chan string
}

// iceServers asks duet for ICE servers as the SDKs do and returns its
// answer as pion's configuration.
func iceServers(t *testing.T, c *wstest.Client, tamper bool) []webrtc.ICEServer {
	t.Helper()
	c.Send(wstest.Msg{"command": "getIceServerConfig"})
	m := c.Expect("iceServerConfig", "")
	raw, _ := json.Marshal(m["iceServers"])
	var list []struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username"`
		Credential string   `json:"credential"`
	}
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		t.Fatalf("iceServerConfig without iceServers: %v", m)
	}
	var out []webrtc.ICEServer
	for _, s := range list {
		if tamper && s.Credential != "" {
			// Another first character: "x" for an "x" changed nothing
			// one run in 64 (base64).
			c := byte('x')
			if s.Credential[0] == c {
				c = 'y'
			}
			s.Credential = string(c) + s.Credential[1:]
		}
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

func newCallPeer(t *testing.T, srv *testserver.Server, tamper bool) *callPeer {
	t.Helper()
	ws := wstest.Dial(t, srv.URL("WebRTCAppEE"))
	servers := iceServers(t, ws, tamper)
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(pionice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: servers, ICETransportPolicy: webrtc.ICETransportPolicyRelay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	p := &callPeer{t: t, ws: ws, pc: pc, got: make(chan string, 8)}
	return p
}

// localDescription sets d and returns it with every candidate gathered
// (no trickle: the SDP carries them).
func (p *callPeer) localDescription(d webrtc.SessionDescription) string {
	p.t.Helper()
	done := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(d); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.t.Fatal("ICE gathering did not complete")
	}
	return p.pc.LocalDescription().SDP
}

func (p *callPeer) next(command string) wstest.Msg {
	p.t.Helper()
	for {
		m := wstest.Next(p.t, p.msgs, 10*time.Second)
		if m.Str("command") == command {
			return m
		}
	}
}

func (p *callPeer) onChannel(dc *webrtc.DataChannel) {
	dc.OnMessage(func(m webrtc.DataChannelMessage) { p.got <- string(m.Data) })
}

// TestRelayOnlyCall: two pion peers that may only use relay candidates get
// their ICE servers from duet's iceServerConfig, signal through duet, and
// talk over a data channel through the embedded TURN server on 127.0.0.1
// (loopback allowed for the test). A peer whose credential is tampered
// with gets no relay candidate, and the refusal is counted.
func TestRelayOnlyCall(t *testing.T) {
	e := start(t, allowLoopback)
	stun, turn := e.srv.URIs()
	provider := ice.New(ice.Options{STUN: stun, TURN: turn, Secret: secret, TTL: time.Hour})
	srv := testserver.Start(t, testserver.Config(), server.Options{ICE: provider})

	alice, bob := newCallPeer(t, srv, false), newCallPeer(t, srv, false)
	alice.msgs, bob.msgs = alice.ws.Collect(), bob.ws.Collect()
	alice.ws.Send(wstest.Msg{"command": "join", "streamId": "relay-room"})
	alice.next("notification")
	bob.ws.Send(wstest.Msg{"command": "join", "streamId": "relay-room"})
	bob.next("notification")
	alice.next("start") // alice waited, so she offers

	dc, err := alice.pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	alice.onChannel(dc)
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	bob.pc.OnDataChannel(func(d *webrtc.DataChannel) {
		bob.onChannel(d)
		d.OnOpen(func() { d.SendText("hi alice, via TURN") })
	})

	offer, err := alice.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	sdp := alice.localDescription(offer)
	if !strings.Contains(sdp, "typ relay") || strings.Contains(sdp, "typ host") {
		t.Fatalf("offer should carry relay candidates only:\n%s", sdp)
	}
	alice.ws.Send(wstest.Msg{"command": "takeConfiguration", "streamId": "relay-room", "type": "offer", "sdp": sdp})
	m := bob.next("takeConfiguration")
	if err := bob.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.Str("sdp")}); err != nil {
		t.Fatal(err)
	}
	answer, err := bob.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	bob.ws.Send(wstest.Msg{"command": "takeConfiguration", "streamId": "relay-room", "type": "answer", "sdp": bob.localDescription(answer)})
	m = alice.next("takeConfiguration")
	if err := alice.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.Str("sdp")}); err != nil {
		t.Fatal(err)
	}

	select {
	case <-opened:
	case <-time.After(15 * time.Second):
		t.Fatalf("data channel did not open (ICE %s)", alice.pc.ICEConnectionState())
	}
	if err := dc.SendText("hello bob, via TURN"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		peer *callPeer
		want string
	}{{bob, "hello bob, via TURN"}, {alice, "hi alice, via TURN"}} {
		select {
		case got := <-p.peer.got:
			if got != p.want {
				t.Fatalf("got %q, want %q", got, p.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no message %q", p.want)
		}
	}
	pair, err := alice.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
		t.Fatalf("selected pair %v (%v), want a local relay candidate", pair, err)
	}
	if e.metric(t, "duet_turn_allocations", "") < 2 || e.metric(t, "duet_turn_relayed_bytes_total", "to_peer") == 0 {
		t.Errorf("metrics: allocations %v, relayed %v", e.metric(t, "duet_turn_allocations", ""), e.metric(t, "duet_turn_relayed_bytes_total", "to_peer"))
	}

	// Wrong credentials: the relay-only peer gathers nothing.
	before := e.metric(t, "duet_turn_refused_total", "bad_credentials")
	mallory := newCallPeer(t, srv, true)
	if _, err := mallory.pc.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	o, err := mallory.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if sdp := mallory.localDescription(o); strings.Contains(sdp, "a=candidate") {
		t.Fatalf("a tampered credential still gathered candidates:\n%s", sdp)
	}
	if after := e.metric(t, "duet_turn_refused_total", "bad_credentials"); after <= before {
		t.Fatalf("bad_credentials refusals %v → %v", before, after)
	}
	alice.pc.Close()
	bob.pc.Close()
	mallory.pc.Close()
}
