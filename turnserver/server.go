// Package turnserver is duet's embedded TURN/STUN server (pion/turn): UDP
// and TCP listeners on one port, time-limited credentials minted from a
// shared secret (the TURN REST form, as coturn's use-auth-secret), relay
// sockets in a port range, a per-credential allocation quota, a bandwidth
// cap per allocation, and a deny-list that keeps the relay away from
// loopback, private, link-local and other non-public addresses.
package turnserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/ice"
)

// Options configure the embedded TURN server.
type Options struct {
	// Listen is the UDP and TCP address ("host:port"; port 0 picks one
	// free for both).
	Listen string
	// PublicIP is where clients reach the server: the relay address in
	// allocations and the host of URIs.
	PublicIP net.IP
	// RelayAddress is the local IP relay sockets bind to.
	RelayAddress string
	// PortMin and PortMax bound relay ports (0, 0: any free port).
	PortMin, PortMax int
	// Realm of the long-term credentials (default "duet").
	Realm string
	// Secret checks credentials (see ice.Mint). Required.
	Secret []byte
	// UserQuota bounds allocations per credential, TokenQuota per room
	// token (over every credential minted for it), IPQuota per client
	// address, MaxAllocations in total (0: no limit).
	UserQuota, TokenQuota, IPQuota, MaxAllocations int
	// Bandwidth is bytes per second per allocation and direction (0: no cap).
	Bandwidth int
	// AllowPrivatePeers lifts the deny-list except for multicast and
	// unspecified addresses; AllowedPeers lifts it for some networks.
	AllowPrivatePeers bool
	AllowedPeers      []netip.Prefix
	// TLS, when set, serves TURN over TLS with this certificate: on
	// TLSListen when set, and on connections given to ServeTLS (those of
	// an HTTPS port TURN shares).
	TLS       *tls.Config
	TLSListen string
	// HandshakeTimeout bounds a TLS handshake on TLSListen (default
	// DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// TLSPort is the port advertised in turns: URIs when TURN shares
	// another listener's (0: TLSListen's).
	TLSPort int
	// Host names the server in advertised URIs (default PublicIP);
	// TLSHost in turns: URIs (default Host), where it must be a name or
	// address the certificate holds.
	Host, TLSHost string
	// Registerer takes the metrics (nil: not registered anywhere).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock credentials are checked against (default time.Now).
	Now func() time.Time
}

// Server is a running embedded TURN server.
type Server struct {
	o      Options
	log    *slog.Logger
	m      *metrics
	policy peerPolicy
	relays *relays
	turn   *turn.Server
	udp    net.PacketConn
	tcp    *trackingListener
	port   int

	tlsQueue *connQueue        // TLS connections for pion; nil without TLS
	tlsConns *trackingListener // tlsQueue as pion accepts from it
	tlsLn    *trackingListener // TURN's own TLS port, if any
	tlsPort  int
	tlsWG    sync.WaitGroup // the TLS accept loop and handshakes

	wake chan struct{} // EndUser has allocations for bindingWorker to close
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// OptionsFromConfig maps the turn_* settings to Options. The secret is
// cfg.TurnSecret; the caller supplies one when it is empty.
func OptionsFromConfig(cfg config.Config, secret []byte, reg prometheus.Registerer, log *slog.Logger) Options {
	return Options{
		Listen:            cfg.TurnListen,
		PublicIP:          PublicIP(cfg.TurnPublicIP, cfg.TurnListen),
		RelayAddress:      cfg.TurnRelayAddress,
		PortMin:           cfg.TurnRelayPortMin,
		PortMax:           cfg.TurnRelayPortMax,
		Realm:             cfg.TurnRealm,
		Secret:            secret,
		UserQuota:         cfg.TurnUserQuota,
		TokenQuota:        cfg.TurnTokenQuota,
		IPQuota:           cfg.TurnIPQuota,
		MaxAllocations:    cfg.TurnMaxAllocations,
		Bandwidth:         cfg.TurnBandwidth,
		AllowPrivatePeers: cfg.TurnAllowPrivatePeers,
		AllowedPeers:      config.ParsePrefixes(cfg.TurnAllowedPeers),
		Registerer:        reg,
		Logger:            log,
	}
}

// PublicIP is the configured public IP, else the listen address's IP when
// it names one, else the first non-loopback IPv4 address of an interface,
// else 127.0.0.1.
func PublicIP(configured, listen string) net.IP {
	if ip := net.ParseIP(configured); ip != nil {
		return ip
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			return ip
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// Start listens and serves until Close.
func Start(o Options) (*Server, error) {
	if len(o.Secret) == 0 {
		return nil, errors.New("turnserver: no secret")
	}
	if o.PublicIP == nil {
		return nil, errors.New("turnserver: no public IP")
	}
	if o.Realm == "" {
		o.Realm = "duet"
	}
	if o.RelayAddress == "" {
		o.RelayAddress = "0.0.0.0"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, log: log, m: m, policy: peerPolicy{allowPrivate: o.AllowPrivatePeers, allowed: o.AllowedPeers}}
	s.relays = &relays{s: s, byUser: map[string]int{}, byToken: map[string]int{}, byIP: map[netip.Addr]int{},
		open: map[string]map[*relayConn]struct{}{}, revoked: map[string]time.Time{}}
	s.wake, s.done = make(chan struct{}, 1), make(chan struct{})
	if err := s.listen(); err != nil {
		return nil, err
	}
	if err := s.listenTLS(); err != nil {
		s.udp.Close()
		s.tcp.Close()
		return nil, fmt.Errorf("turnserver: %w", err)
	}
	host, _, _ := net.SplitHostPort(o.Listen)
	s.policy.self = ownAddrs(o.PublicIP, host, o.RelayAddress)
	s.policy.relayMin, s.policy.relayMax, s.policy.listenPort = o.PortMin, o.PortMax, s.port
	permit := func(client net.Addr, peer net.IP) bool {
		if why := s.policy.reason(peer); why != "" {
			s.m.refuse("peer_" + why)
			s.log.Debug("TURN relay to a denied address refused", "client", client.String(), "peer", peer.String(), "kind", why)
			return false
		}
		return true
	}
	listeners := []turn.ListenerConfig{{Listener: s.tcp, RelayAddressGenerator: s.relays, PermissionHandler: permit}}
	if s.tlsQueue != nil {
		s.tlsConns = &trackingListener{Listener: s.tlsQueue, conns: map[net.Conn]struct{}{}}
		listeners = append(listeners, turn.ListenerConfig{Listener: s.tlsConns, RelayAddressGenerator: s.relays, PermissionHandler: permit})
	}
	ts, err := turn.NewServer(turn.ServerConfig{
		Realm:         o.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quota,
		LoggerFactory: pionLogs{log},
		EventHandler: turn.EventHandler{
			OnAuth: func(_, _ net.Addr, _, _, _ string, _ string, verdict bool) {
				if !verdict { // the password did not match the username
					s.m.refuse("bad_credentials")
				}
			},
			OnAllocationCreated: s.allocationCreated,
			OnAllocationDeleted: s.allocationDeleted,
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: s.udp, RelayAddressGenerator: s.relays, PermissionHandler: permit}},
		ListenerConfigs:   listeners,
	})
	if err != nil {
		s.udp.Close()
		s.tcp.Close()
		s.closeTLS()
		return nil, err
	}
	s.turn = ts
	s.wg.Add(1)
	go s.bindingWorker()
	log.Info("embedded TURN server listening", "addr", net.JoinHostPort(s.host(), strconv.Itoa(s.port)),
		"public_ip", o.PublicIP.String(), "relay_ports", fmt.Sprintf("%d-%d", o.PortMin, o.PortMax), "tls", s.tlsAddr())
	return s, nil
}

// listen opens UDP and TCP on the same port. With port 0 the UDP socket
// picks it, and TCP follows; a few tries cover a port taken for TCP.
func (s *Server) listen() error {
	host, port, err := net.SplitHostPort(s.o.Listen)
	if err != nil {
		return fmt.Errorf("turnserver: %w", err)
	}
	var lastErr error
	for range 5 {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return fmt.Errorf("turnserver: %w", err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			udp.Close()
			lastErr = err
			if port != "0" {
				break
			}
			continue
		}
		s.udp, s.tcp, s.port = newBatchConn(udp.(*net.UDPConn)), &trackingListener{Listener: tcp, conns: map[net.Conn]struct{}{}}, p
		return nil
	}
	return fmt.Errorf("turnserver: %w", lastErr)
}

func (s *Server) host() string {
	if s.o.Host != "" {
		return s.o.Host
	}
	return s.o.PublicIP.String()
}

// Port is the UDP and TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// URIs are what getIceServerConfig advertises for this server: STUN, and
// TURN over UDP and over TCP, at the public IP, and TURN over TLS when
// configured (see tlsAddr).
func (s *Server) URIs() (stun, turnURIs []string) {
	hp := net.JoinHostPort(s.host(), strconv.Itoa(s.port))
	turnURIs = []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if a := s.tlsAddr(); a != "" {
		turnURIs = append(turnURIs, "turns:"+a+"?transport=tcp")
	}
	return []string{"stun:" + hp}, turnURIs
}

// tlsAddr is host:port of turns: URIs, "" without TLS.
func (s *Server) tlsAddr() string {
	port := s.o.TLSPort
	if port == 0 {
		port = s.tlsPort
	}
	if s.tlsQueue == nil || port == 0 {
		return ""
	}
	host := s.o.TLSHost
	if host == "" {
		host = s.host()
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Allocations is the number of active allocations.
func (s *Server) Allocations() int {
	s.relays.mu.Lock()
	defer s.relays.mu.Unlock()
	return s.relays.total
}

// Close stops the listeners, closes every client connection and allocation.
// It is safe to call more than once; later calls return the first's
// error.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.turn.Close() // closes the UDP socket and the TCP listener
		s.tcp.closeAll()
		s.closeTLS()
		close(s.done)
		s.wg.Wait()
	})
	return s.closeErr
}

// closeTLS stops the TLS port, ends handshakes in progress and closes the
// TLS clients' connections.
func (s *Server) closeTLS() {
	if s.tlsQueue == nil {
		return
	}
	if s.tlsLn != nil {
		s.tlsLn.Close()
		s.tlsLn.closeAll()
	}
	s.tlsQueue.Close()
	s.tlsWG.Wait()
	if s.tlsConns != nil {
		s.tlsConns.closeAll()
	}
}

// authenticate is pion's AuthHandler: the username must be an unexpired
// "expiry:user"; the key is derived from the password the secret gives it,
// and pion checks the request's MESSAGE-INTEGRITY with it.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	if _, err := ice.CheckUsername(ra.Username, s.o.Now()); err != nil {
		if errors.Is(err, ice.ErrExpired) {
			s.m.refuse("expired")
		} else {
			s.m.refuse("bad_credentials")
		}
		s.log.Debug("TURN credential refused", "client", ra.SrcAddr.String(), "err", err)
		return "", nil, false
	}
	if s.relays.isRevoked(ra.Username) {
		s.m.refuse("revoked")
		return "", nil, false
	}
	pass := ice.Password(s.o.Secret, ra.Username)
	return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, pass), true
}

// quota is pion's QuotaHandler, asked before each allocation.
func (s *Server) quota(user, _ string, src net.Addr) bool {
	ip, _ := clientIP(src)
	if err := s.relays.admit(user, ip); err != nil {
		s.m.refuse(reasonFor(err))
		return false
	}
	return true
}

// trackingListener remembers accepted connections so Close can end them:
// pion closes its listener but not the client connections it accepted.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
