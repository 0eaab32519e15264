package turnserver_test

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/turnserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

var secret = []byte("turn-test-secret")

type env struct {
	srv  *turnserver.Server
	reg  *prometheus.Registry
	addr string // 127.0.0.1:port
}

func start(t testing.TB, mutate func(*turnserver.Options)) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	o := turnserver.Options{
		Listen:       "127.0.0.1:0",
		PublicIP:     net.IPv4(127, 0, 0, 1),
		RelayAddress: "127.0.0.1",
		Secret:       secret,
		UserQuota:    10,
		Registerer:   reg,
	}
	if mutate != nil {
		mutate(&o)
	}
	s, err := turnserver.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &env{srv: s, reg: reg, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))}
}

func allowLoopback(o *turnserver.Options) {
	o.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// client is a pion TURN client over UDP (or over TCP with tcp set).
func (e *env) client(t testing.TB, user, pass string, tcp bool) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	if tcp {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	} else {
		var err error
		if conn, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: e.addr, TURNServerAddr: e.addr, Conn: conn,
		Username: user, Password: pass, Realm: "duet", RTO: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

func minted(ttl time.Duration) (string, string) {
	return ice.Mint(secret, "live.test", time.Now().Add(ttl))
}

// metric reads one sample from reg: name with the given label value (or
// no labels when label is "").
func (e *env) metric(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a condition wait
	}
}

// peer is a UDP socket on loopback standing for the other side of a call.
func peer(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func read(t *testing.T, pc net.PacketConn) (string, net.Addr) {
	t.Helper()
	buf := make([]byte, 1500)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf[:n]), from
}

// TestRelayWithMintedCredentials: a client with credentials minted from the
// shared secret allocates (over UDP and over TCP), relays both ways, and
// the metrics count it.
func TestRelayWithMintedCredentials(t *testing.T) {
	e := start(t, allowLoopback)
	for _, tcp := range []bool{false, true} {
		user, pass := minted(time.Hour)
		c := e.client(t, user, pass, tcp)
		if mapped, err := c.SendBindingRequest(); err != nil || !mapped.(*net.UDPAddr).IP.IsLoopback() {
			t.Fatalf("STUN binding: %v %v", mapped, err)
		}
		relay, err := c.Allocate()
		if err != nil {
			t.Fatalf("allocate (tcp=%v): %v", tcp, err)
		}
		p := peer(t)
		if _, err := relay.WriteTo([]byte("to peer"), p.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		got, from := read(t, p)
		if got != "to peer" || from.String() != relay.LocalAddr().String() {
			t.Fatalf("peer got %q from %v, want from the relay %v", got, from, relay.LocalAddr())
		}
		p.WriteTo([]byte("to client"), from)
		if got, _ := read(t, relay); got != "to client" {
			t.Fatalf("client got %q", got)
		}
		relay.Close()
	}
	if v := e.metric(t, "duet_turn_allocations_total", ""); v != 2 {
		t.Errorf("allocations_total = %v, want 2", v)
	}
	waitFor(t, "relayed bytes to be counted", func() bool {
		return e.metric(t, "duet_turn_relayed_bytes_total", "to_peer") == 14 && e.metric(t, "duet_turn_relayed_bytes_total", "from_peer") == 18
	})
	waitFor(t, "allocations to close", func() bool { return e.srv.Allocations() == 0 && e.metric(t, "duet_turn_allocations", "") == 0 })
}

// TestWrongOrExpiredCredentialsAreRefused: no allocation without a valid,
// unexpired credential from the shared secret.
func TestWrongOrExpiredCredentialsAreRefused(t *testing.T) {
	e := start(t, nil)
	user, _ := minted(time.Hour)
	expiredUser, expiredPass := minted(-time.Minute)
	otherUser, otherPass := ice.Mint([]byte("another secret"), "x", time.Now().Add(time.Hour))
	for name, cred := range map[string][2]string{
		"wrong password":    {user, "not-the-password"},
		"other secret":      {otherUser, otherPass},
		"expired":           {expiredUser, expiredPass},
		"not a REST format": {"alice", "secret"},
	} {
		c := e.client(t, cred[0], cred[1], false)
		if _, err := c.Allocate(); err == nil {
			t.Errorf("%s: allocation granted", name)
		}
	}
	if e.metric(t, "duet_turn_refused_total", "bad_credentials") < 3 || e.metric(t, "duet_turn_refused_total", "expired") < 1 {
		t.Errorf("refusals not counted: bad_credentials %v, expired %v",
			e.metric(t, "duet_turn_refused_total", "bad_credentials"), e.metric(t, "duet_turn_refused_total", "expired"))
	}
	if e.srv.Allocations() != 0 || e.metric(t, "duet_turn_allocations_total", "") != 0 {
		t.Error("an allocation was made")
	}
}

// TestDenyListRefusesLoopbackPeer: by default the relay will not reach
// 127.0.0.1: the permission is refused, nothing arrives, and the refusal
// is counted.
func TestDenyListRefusesLoopbackPeer(t *testing.T) {
	e := start(t, nil)
	user, pass := minted(time.Hour)
	relay, err := e.client(t, user, pass, false).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	p := peer(t)
	if _, err := relay.WriteTo([]byte("let me in"), p.LocalAddr()); err == nil {
		t.Fatal("relay to 127.0.0.1 was permitted")
	}
	if v := e.metric(t, "duet_turn_refused_total", "peer_loopback"); v < 1 {
		t.Fatalf("peer_loopback refusals = %v", v)
	}
	// Nothing reached the peer: a datagram from the relay would be waiting.
	p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _, err := p.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatalf("peer received %d bytes", n)
	}
}

func TestPeerPolicy(t *testing.T) {
	for _, tc := range []struct {
		ip        string
		allowPriv bool
		allowed   string
		ok        bool
	}{
		{"8.8.8.8", false, "", true},
		{"2606:4700::1111", false, "", true},
		{"127.0.0.1", false, "", false},
		{"10.1.2.3", false, "", false},
		{"172.16.0.1", false, "", false},
		{"192.168.1.1", false, "", false},
		{"169.254.169.254", false, "", false},
		{"100.64.0.1", false, "", false},
		{"0.0.0.0", false, "", false},
		{"224.0.0.1", false, "", false},
		{"255.255.255.255", false, "", false},
		{"::1", false, "", false},
		{"fd00::1", false, "", false},
		{"fe80::1", false, "", false},
		{"::ffff:127.0.0.1", false, "", false},
		{"10.1.2.3", true, "", true},
		{"127.0.0.1", true, "", true},
		{"224.0.0.1", true, "", false},
		{"0.0.0.0", true, "", false},
		{"10.1.2.3", false, "10.0.0.0/8", true},
		{"10.1.2.3", false, "10.9.0.0/16", false},
		// NAT64's well-known prefix embeds any IPv4 address (issue #20).
		{"64:ff9b::a01:203", false, "", false},
		{"64:ff9b::808:808", false, "", false},
	} {
		var allowed []netip.Prefix
		if tc.allowed != "" {
			allowed = []netip.Prefix{netip.MustParsePrefix(tc.allowed)}
		}
		if got := turnserver.PeerAllowed(net.ParseIP(tc.ip), tc.allowPriv, allowed); got != tc.ok {
			t.Errorf("%s (private %v, allowed %q): %v, want %v", tc.ip, tc.allowPriv, tc.allowed, got, tc.ok)
		}
	}
}

// TestUserQuota: one credential holds at most UserQuota allocations.
func TestUserQuota(t *testing.T) {
	e := start(t, func(o *turnserver.Options) { o.UserQuota = 1 })
	user, pass := minted(time.Hour)
	relay, err := e.client(t, user, pass, false).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client(t, user, pass, false).Allocate(); err == nil {
		t.Fatal("second allocation of the same credential granted")
	}
	if v := e.metric(t, "duet_turn_refused_total", "quota"); v < 1 {
		t.Fatalf("quota refusals = %v", v)
	}
	other, otherPass := ice.Mint(secret, "live.other", time.Now().Add(time.Hour))
	r2, err := e.client(t, other, otherPass, false).Allocate()
	if err != nil {
		t.Fatalf("another credential: %v", err)
	}
	r2.Close()
	relay.Close()
	waitFor(t, "the quota to free", func() bool { return e.srv.Allocations() == 0 })
	r3, err := e.client(t, user, pass, false).Allocate()
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	r3.Close()
}

// TestBandwidthCap: datagrams beyond the cap are dropped and counted.
func TestBandwidthCap(t *testing.T) {
	e := start(t, func(o *turnserver.Options) { allowLoopback(o); o.Bandwidth = 4096 })
	user, pass := minted(time.Hour)
	relay, err := e.client(t, user, pass, false).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	p := peer(t)
	payload := make([]byte, 1000)
	begin := time.Now()
	const sent = 300 // 300 kB in a burst; the bucket holds 64 KiB
	for range sent {
		if _, err := relay.WriteTo(payload, p.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "drops to be counted", func() bool {
		return e.metric(t, "duet_turn_dropped_bytes_total", "to_peer") >= 10*1000
	})
	relayed := e.metric(t, "duet_turn_relayed_bytes_total", "to_peer")
	if limit := 64<<10 + 4096*time.Since(begin).Seconds() + 1000; relayed > limit {
		t.Fatalf("relayed %v bytes, want at most the burst and the rate (%v)", relayed, limit)
	}
}

// TestTCPRelayRefused: RFC 6062 TCP allocations are not offered.
func TestTCPRelayRefused(t *testing.T) {
	e := start(t, allowLoopback)
	user, pass := minted(time.Hour)
	if _, err := e.client(t, user, pass, true).AllocateTCP(); err == nil {
		t.Fatal("TCP allocation granted")
	}
	if v := e.metric(t, "duet_turn_refused_total", "tcp_relay"); v < 1 {
		t.Fatalf("tcp_relay refusals = %v", v)
	}
}

func TestStartNeedsSecret(t *testing.T) {
	_, err := turnserver.Start(turnserver.Options{Listen: "127.0.0.1:0", PublicIP: net.IPv4(127, 0, 0, 1)})
	if err == nil || errors.Is(err, nil) {
		t.Fatal("started without a secret")
	}
}

// TestRelayToOwnAddresses: a peer on the server's own address is reached
// only on a relay port — two callers this server relays talk relay to
// relay — never on the TURN port itself (a relay loop) or another port of
// the host (issue #20).
func TestRelayToOwnAddresses(t *testing.T) {
	e := start(t, func(o *turnserver.Options) {
		allowLoopback(o)
		o.PortMin, o.PortMax = 61000, 61999 // above the ephemeral ports the test peer gets
	})
	user, pass := minted(time.Hour)
	a, err := e.client(t, user, pass, false).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := e.client(t, user, pass, true).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Relay to relay: both on the server's address, on relay ports.
	b.WriteTo([]byte("open"), a.LocalAddr()) // b's permission for a
	if _, err := a.WriteTo([]byte("relay to relay"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, _ := read(t, b); got != "relay to relay" {
		t.Fatalf("b got %q", got)
	}
	other := peer(t) // a loopback service outside the relay range
	for name, to := range map[string]net.Addr{
		"the TURN port":            &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: e.srv.Port()},
		"another port of the host": other.LocalAddr(),
	} {
		before := e.metric(t, "duet_turn_refused_total", "peer_self")
		a.WriteTo([]byte("loop"), to)
		waitFor(t, name+" refused as peer_self", func() bool { return e.metric(t, "duet_turn_refused_total", "peer_self") > before })
	}
	other.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := other.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatalf("the host's other port got %d bytes through the relay", n)
	}
}
