package turnserver

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v5"
	"golang.org/x/time/rate"

	"github.com/duet-rtc/duet/ice"
)

// Errors an allocation can fail with.
var (
	ErrQuota      = errors.New("turnserver: allocation quota reached")
	ErrTokenQuota = errors.New("turnserver: the room token's allocation quota is reached")
	ErrIPQuota    = errors.New("turnserver: the client address's allocation quota is reached")
	ErrRevoked    = errors.New("turnserver: the credential was revoked")
	ErrCapacity   = errors.New("turnserver: server holds its maximum of allocations")
	ErrTCPRelay   = errors.New("turnserver: TCP relays (RFC 6062) are not offered")
	ErrNoPort     = errors.New("turnserver: no free relay port")
	errPeerDenied = errors.New("turnserver: peer address not allowed")
)

// relays allocates relay sockets in the port range, counts them per
// credential, per room token, per client address and in total, and wraps
// each in a relayConn that enforces the bandwidth cap and the peer policy,
// counts bytes, and ends when its credential expires (see binding.go).
type relays struct {
	s *Server

	mu      sync.Mutex
	total   int
	byUser  map[string]int
	byToken map[string]int     // by ice.UserToken of the credential
	byIP    map[netip.Addr]int // by client address (from pion's allocation events)
	open    map[string]map[*relayConn]struct{}
	revoked map[string]time.Time // credentials EndUser ended, until they expire
	ending  []*relayConn         // for the binding worker to close
}

var _ turn.RelayAddressGenerator = (*relays)(nil)

// Validate implements turn.RelayAddressGenerator.
func (r *relays) Validate() error { return nil }

// admit reports whether user, at client address ip, may take one more
// allocation, without reserving it: pion asks before allocating
// (answering 486 on no).
func (r *relays) admit(user string, ip netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.s.o; o.IPQuota > 0 && ip.IsValid() && r.byIP[ip] >= o.IPQuota {
		return ErrIPQuota
	}
	return r.checkLocked(user)
}

func (r *relays) checkLocked(user string) error {
	o := r.s.o
	if _, ok := r.revoked[user]; ok {
		return ErrRevoked
	}
	if o.UserQuota > 0 && r.byUser[user] >= o.UserQuota {
		return ErrQuota
	}
	if tok := ice.UserToken(user); o.TokenQuota > 0 && tok != "" && r.byToken[tok] >= o.TokenQuota {
		return ErrTokenQuota
	}
	if o.MaxAllocations > 0 && r.total >= o.MaxAllocations {
		return ErrCapacity
	}
	return nil
}

// reserve counts one allocation for user; checked again here because two
// requests may both have passed admit.
func (r *relays) reserve(user string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkLocked(user); err != nil {
		return err
	}
	r.total++
	r.byUser[user]++
	if tok := ice.UserToken(user); tok != "" {
		r.byToken[tok]++
	}
	return nil
}

func (r *relays) release(c *relayConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total--
	if r.byUser[c.user]--; r.byUser[c.user] <= 0 {
		delete(r.byUser, c.user)
	}
	if tok := ice.UserToken(c.user); tok != "" {
		if r.byToken[tok]--; r.byToken[tok] <= 0 {
			delete(r.byToken, tok)
		}
	}
	if set := r.open[c.user]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(r.open, c.user)
		}
	}
}

// AllocatePacketConn implements turn.RelayAddressGenerator: a UDP socket on
// the relay address in the port range, advertised at the public IP.
func (r *relays) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if err := r.reserve(conf.UserID); err != nil {
		r.s.m.refuse(reasonFor(err))
		return nil, nil, err
	}
	rc := &relayConn{s: r.s, user: conf.UserID}
	pc, err := r.listen(conf)
	if err != nil {
		r.release(rc)
		r.s.m.refuse("no_port")
		return nil, nil, err
	}
	rc.PacketConn = pc
	port := pc.LocalAddr().(*net.UDPAddr).Port
	if bw := r.s.o.Bandwidth; bw > 0 {
		burst := max(bw, 64<<10) // a whole datagram always fits
		rc.in = rate.NewLimiter(rate.Limit(bw), burst)
		rc.out = rate.NewLimiter(rate.Limit(bw), burst)
	}
	r.track(rc)
	r.s.m.allocated()
	return rc, &net.UDPAddr{IP: r.s.o.PublicIP, Port: port}, nil
}

func (r *relays) listen(conf turn.AllocateListenerConfig) (net.PacketConn, error) {
	o := r.s.o
	try := func(port int) (net.PacketConn, error) {
		pc, err := net.ListenPacket(conf.Network, net.JoinHostPort(o.RelayAddress, strconv.Itoa(port)))
		if uc, ok := pc.(*net.UDPConn); ok {
			uc.SetReadBuffer(relaySockBuf)
			uc.SetWriteBuffer(relaySockBuf)
		}
		return pc, err
	}
	if conf.RequestedPort != 0 {
		return try(conf.RequestedPort)
	}
	if o.PortMin == 0 {
		return try(0)
	}
	n := o.PortMax - o.PortMin + 1
	for range min(n, 32) {
		if pc, err := try(o.PortMin + rand.IntN(n)); err == nil {
			return pc, nil
		}
	}
	return nil, ErrNoPort
}

// AllocateListener implements turn.RelayAddressGenerator: TCP relays are
// refused. Browsers never ask for them (they relay UDP, also when they
// reach the server over TCP), and they would bypass the bandwidth cap.
func (r *relays) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	r.s.m.refuse("tcp_relay")
	return nil, nil, ErrTCPRelay
}

// AllocateConn implements turn.RelayAddressGenerator; see AllocateListener.
func (r *relays) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	r.s.m.refuse("tcp_relay")
	return nil, ErrTCPRelay
}

func reasonFor(err error) string {
	switch {
	case errors.Is(err, ErrQuota):
		return "quota"
	case errors.Is(err, ErrCapacity):
		return "capacity"
	case errors.Is(err, ErrTokenQuota):
		return "token_quota"
	case errors.Is(err, ErrIPQuota):
		return "ip_quota"
	case errors.Is(err, ErrRevoked):
		return "revoked"
	}
	return "other"
}

// relayConn is one allocation's relay socket. Datagrams over the bandwidth
// cap are dropped (policing, not queueing: pion writes from the read loop
// that serves every client, so a write must never wait).
type relayConn struct {
	net.PacketConn
	s       *Server
	user    string
	in, out *rate.Limiter // nil: no cap
	expire  func() bool   // stops the timer that ends it with its credential
	once    sync.Once

	// A call relays to one peer address or two: the last one written to
	// and its verdict, and the last one read from as a net.Addr, are kept
	// rather than worked out again for every datagram.
	lastOut   atomic.Pointer[peerVerdict]
	lastIn    *net.UDPAddr // the reader's own (pion has one reader per allocation)
	lastInKey netip.AddrPort
}

// peerVerdict is the policy's answer for one peer address ("": allowed).
type peerVerdict struct {
	addr netip.AddrPort
	why  string
}

// verdict is the policy's answer for addr, from the cache when it is the
// address of the last datagram.
func (c *relayConn) verdict(ua *net.UDPAddr) string {
	ap := ua.AddrPort()
	if v := c.lastOut.Load(); v != nil && v.addr == ap {
		return v.why
	}
	why := c.s.policy.reason(ua.IP)
	if why == "" {
		why = c.s.policy.selfReason(ua.IP, ua.Port)
	}
	c.lastOut.Store(&peerVerdict{ap, why})
	return why
}

// WriteTo sends a client's datagram to a peer.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		if why := c.verdict(ua); why != "" {
			// pion only writes to peers with a permission, which the policy
			// already checked; this is the second lock on the door.
			c.s.m.refuse("peer_" + why)
			return 0, errPeerDenied
		}
	}
	if c.out != nil && !c.out.AllowN(time.Now(), len(p)) {
		c.s.m.dropped("to_peer", len(p))
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	c.s.m.relayed("to_peer", n)
	return n, err
}

// ReadFrom receives a peer's datagram for the client.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.readFrom(p)
		if err != nil {
			return n, addr, err
		}
		if c.in != nil && !c.in.AllowN(time.Now(), n) {
			c.s.m.dropped("from_peer", n)
			continue
		}
		c.s.m.relayed("from_peer", n)
		return n, addr, nil
	}
}

// readFrom reads a datagram without a new net.Addr for each: pion only
// compares and writes to it before its next read.
func (c *relayConn) readFrom(p []byte) (int, net.Addr, error) {
	uc, ok := c.PacketConn.(*net.UDPConn)
	if !ok {
		return c.PacketConn.ReadFrom(p)
	}
	n, ap, err := uc.ReadFromUDPAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	if c.lastIn == nil || ap != c.lastInKey {
		c.lastIn, c.lastInKey = net.UDPAddrFromAddrPort(ap), ap
	}
	return n, c.lastIn, nil
}

// Close frees the socket and the allocation's place in the quotas.
func (c *relayConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(func() {
		if c.expire != nil {
			c.expire()
		}
		c.s.relays.release(c)
		c.s.m.deallocated()
	})
	return err
}
