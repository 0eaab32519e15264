// Package server is duet's HTTP and WebSocket transport: it upgrades
// /{app}/websocket, hands each socket to a ws.Conn (which owns the socket's
// life: reading, writing, pings, the close handshake), enforces the
// limits, and hands decoded commands to a hub.Rooms backend. It also
// serves health, readiness and metrics, and drains on shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/internal/tlsrec"
	"github.com/duet-rtc/duet/internal/ws"
	"github.com/duet-rtc/duet/metrics"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/quality"
)

// ICEProvider answers getIceServerConfig. It is asked once per socket, and
// again when half of a minted credential's lifetime has passed; label
// names the credential's user: the app, or app.room for a room's member.
type ICEProvider interface {
	ICEServerConfig(ctx context.Context, m ice.Member) protocol.ICEServerConfig
}

// TURNRelays is the embedded TURN server as the transport sees it: a
// member an operator removes loses the relays its credential holds, and
// the credential itself. EndUser must not block (it is called under a
// room backend's lock).
type TURNRelays interface {
	EndUser(username string)
}

// Options are the server's collaborators. Zero values get defaults.
type Options struct {
	Logger     *slog.Logger
	Registry   *prometheus.Registry // nil: a new private registry
	Rooms      hub.Rooms            // nil: an in-process hub.Local
	Authorizer access.Authorizer    // nil: every join is allowed
	ICE        ICEProvider          // nil: ice.FromConfig (stun_uri, turn_uris and their credentials)
	TURN       TURNRelays           // the embedded TURN server, if it runs in this process
	// Extra handlers mounted on the mux (the web UI, admin endpoints).
	Mount func(mux *http.ServeMux)
	// TLS serves https:// and wss:// (nil: from tls_cert and tls_key when
	// set, else plain HTTP); see package certs.
	TLS *tls.Config
	// HSTS is the Strict-Transport-Security value of HTTPS responses ("": none).
	HSTS string
	// MaxPending bounds connections between accept and their upgrade or
	// first answer (TLS handshakes, HTTP requests); more wait in the
	// kernel's accept queue. 0: 1024.
	MaxPending int
	// MaxReaders and MaxWriters bound the goroutines reading and writing
	// sockets at once (package ws). 0: 1024.
	MaxReaders, MaxWriters int
	// TURNTLS, with TLS, shares the HTTPS port with TURN over TLS: the
	// connections that are TURN go to it (see turnMux).
	TURNTLS TURNHandler
	// Push answers Ant Media's push commands (package push); nil: they
	// get unsupportedCommand, as any unknown command.
	Push Pusher
}

// Pusher answers registerPushNotificationToken and sendPushNotification.
// Handle reads frame before it returns; reply may be called later, from
// any goroutine.
type Pusher interface {
	Handle(app, command string, frame []byte, reply func([]byte))
}

// Server is one duet node's transport.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	rooms    hub.Rooms
	auth     access.Authorizer
	ice      ICEProvider
	turn     TURNRelays
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	origin   func(*http.Request) bool
	trusted  []netip.Prefix     // trusted_proxies
	peers    []config.PeerLimit // max_peers
	mux      *http.ServeMux
	tls      *tls.Config // nil: plain HTTP
	hsts     string
	turnTLS  TURNHandler // nil: the HTTPS port is HTTPS only
	eng      *ws.Engine  // runs every socket; closed by Drain
	quality  *quality.Tracker
	push     Pusher

	tlsPool    *tlsrec.Pool // buffers of wss:// sockets' record layer
	tlsMetrics *metrics.TLS

	gate        atomic.Pointer[gate] // connections between accept and upgrade; set by Serve
	gateSize    int
	admit       admission
	loadMetrics *metrics.Load

	own *hub.Local // the backend New made (nil when Options.Rooms was given); closed after a drain

	draining atomic.Bool
	nextID   atomic.Uint64
	nconns   atomic.Int64

	mu     sync.Mutex
	conns  map[*conn]struct{}
	perIP  map[netip.Addr]int // sockets per client address (capKey), when max_connections_per_ip is set
	active int                // sockets being upgraded or open; guarded by mu
	wg     sync.WaitGroup     // one per active socket
	closed chan struct{}      // closed when the last socket ends during a drain
}

// New builds a server from a validated config.
func New(cfg config.Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		// A registry shared with other components may have them already.
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, err
		}
	}
	tlsCfg, err := tlsConfig(cfg, opts, log)
	if err != nil {
		return nil, err
	}
	rooms, own := opts.Rooms, (*hub.Local)(nil)
	if rooms == nil {
		own = NewLocal(cfg, log)
		rooms = own
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		rooms:    rooms,
		auth:     opts.Authorizer,
		ice:      opts.ICE,
		turn:     opts.TURN,
		registry: reg,
		conns:    make(map[*conn]struct{}),
		perIP:    make(map[netip.Addr]int),
		trusted:  config.ParsePrefixes(cfg.TrustedProxies),
		peers:    cfg.PeerLimits(),
		closed:   make(chan struct{}),
		own:      own,
		hsts:     opts.HSTS,
		gateSize: opts.MaxPending,
		turnTLS:  opts.TURNTLS,
		push:     opts.Push,
	}
	if s.gateSize <= 0 {
		s.gateSize = defaultGateSize
	}
	if tlsCfg != nil {
		s.tls = tlsrec.ServerConfig(tlsCfg)
		s.tlsPool = tlsrec.NewPool()
	}
	if s.ice == nil {
		s.ice = ice.FromConfig(cfg)
	}
	s.metrics = metrics.New(reg, func() (int64, int64, int64) {
		st := rooms.Stats()
		return st.Rooms, st.Evictions, st.Probes
	})
	metrics.RegisterResume(reg, func() metrics.ResumeStats {
		st := rooms.Stats()
		return metrics.ResumeStats{Held: st.Held, Resumes: st.Resumes, Expiries: st.Expiries, KeptBytes: st.KeptBytes,
			RefusedPerIP: st.HoldLimits[hub.CapPerAddr], RefusedTotal: st.HoldLimits[hub.CapTotal], EndedKept: st.HoldLimits[hub.CapKept]}
	})
	qm, err := quality.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.quality = quality.NewTracker(quality.Options{Metrics: qm, DetachTTL: cfg.ReconnectGrace + time.Minute})
	s.tlsMetrics = metrics.RegisterTLS(reg)
	s.loadMetrics = metrics.RegisterLoad(reg, s.loadSample)
	metrics.RegisterMesh(reg, func() int64 { return rooms.Stats().MeshMembers })
	s.origin = originChecker(cfg.AllowedOrigins)
	s.eng = ws.NewEngine(ws.Options{
		MaxMessageBytes: cfg.MaxMessageBytes,
		SendQueueBytes:  cfg.SendQueueBytes,
		PingInterval:    cfg.PingInterval,
		IdleTimeout:     cfg.IdleTimeout,
		WriteTimeout:    cfg.WriteTimeout,
		MaxReaders:      opts.MaxReaders,
		MaxWriters:      opts.MaxWriters,
		Logger:          log,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{app}/websocket", s.serveWS)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if r, ok := s.rooms.(hub.Readiness); ok {
			if err := r.Ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if opts.Mount != nil {
		opts.Mount(mux)
	}
	s.mux = mux
	return s, nil
}

// Handler serves every endpoint.
func (s *Server) Handler() http.Handler { return s.mux }

// Rooms returns the room backend.
func (s *Server) Rooms() hub.Rooms { return s.rooms }

// Quality returns the node's quality state: live reports and what call
// records are made of.
func (s *Server) Quality() *quality.Tracker { return s.quality }

// Connections is the number of open sockets.
func (s *Server) Connections() int { return int(s.nconns.Load()) }

// Serve serves on ln until ctx is cancelled, then drains: new sockets are
// refused, every client gets server_will_stop, and sockets still open after
// the drain timeout are closed with 1001. It returns nil after a clean drain.
// A Server serves once: when Serve returns, its socket engine is closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: 10 * time.Second, // a socket that never finishes its request
		IdleTimeout:       60 * time.Second, // keep-alive HTTP connections between requests
		MaxHeaderBytes:    32 << 10,         // a WebSocket handshake needs a few hundred bytes
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	sl := s.listener(ln)
	hs.ConnState = s.gate.Load().connState
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(sl) }()
	select {
	case err := <-errc:
		dctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
		s.Drain(dctx) // the listener failed
		cancel()
		return err
	case <-ctx.Done():
	}
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	s.Drain(dctx)
	cancel()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Drain refuses new sockets, tells every client the server will stop, waits
// until they have gone or ctx ends, then closes the rest with 1001 and
// waits for their goroutines. The Server takes no sockets after it.
func (s *Server) Drain(ctx context.Context) {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		return
	}
	s.draining.Store(true)
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	if s.active == 0 {
		close(s.closed)
	}
	s.mu.Unlock()
	s.log.Info("draining", "connections", len(conns), "timeout", s.cfg.DrainTimeout)
	note := protocol.Notification(nil, protocol.NotifyServerWillStop, "")
	for _, c := range conns {
		c.Send(note)
	}
	select {
	case <-s.closed:
	case <-ctx.Done():
		s.mu.Lock()
		conns = conns[:0]
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		s.log.Info("drain timeout: closing remaining sockets", "connections", len(conns))
		for _, c := range conns {
			c.Close(ws.CloseGoingAway, "server shutting down", ws.CauseGoingAway)
		}
	}
	s.wg.Wait()
	s.eng.Close()
	s.closeOwnRooms()
	s.log.Info("drained")
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !protocol.ValidApp(app) {
		http.NotFound(w, r)
		return
	}
	if !s.origin(r) {
		s.metrics.Rejected.WithLabelValues("origin").Inc()
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	addr, remote := clientAddr(r, s.trusted)
	// Reserve the socket under the lock Drain takes, so that a drain
	// either refuses it here or waits for it.
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		s.metrics.Rejected.WithLabelValues("draining").Inc()
		http.Error(w, "server is draining", http.StatusServiceUnavailable)
		return
	}
	if !s.reserveIPLocked(addr) {
		s.mu.Unlock()
		s.metrics.Rejected.WithLabelValues("max_connections_per_ip").Inc()
		s.log.Debug("too many connections from one address", "remote", remote)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	s.active++
	s.wg.Add(1)
	s.mu.Unlock()
	nc, early, err := ws.Upgrade(w, r, s.cfg.WriteTimeout)
	if err != nil {
		s.metrics.Rejected.WithLabelValues("upgrade").Inc()
		s.log.Debug("upgrade failed", "remote", remote, "err", err)
		s.releaseIP(addr)
		s.release()
		return
	}
	nc, early = s.takeOver(nc, early)
	if gc, ok := nc.(*gateConn); ok {
		// A plain socket, upgraded: the engine parks a *net.TCPConn.
		gc.release()
		nc = gc.Conn
	}
	c := &conn{srv: s, app: app, remote: remote, addr: addr, id: s.nextID.Add(1)}
	// Ant Media's JS SDK cannot put a token in join; a page may put it in
	// the socket URL instead. It is used only for joins that carry none.
	if r.URL.RawQuery != "" {
		c.urlToken = r.URL.Query().Get("token")
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	draining := s.draining.Load()
	s.mu.Unlock()
	s.nconns.Add(1)
	s.metrics.Connections.Inc()
	s.metrics.ConnectionsTotal.Inc()
	s.log.Debug("connection opened", "conn", c.id, "remote", c.remote, "app", app)
	c.Start(s.eng, nc, early, c)
	switch {
	case draining: // the drain began during the handshake
		c.Send(protocol.Notification(nil, protocol.NotifyServerWillStop, ""))
	case s.cfg.MaxConnections > 0 && s.nconns.Load() > int64(s.cfg.MaxConnections):
		s.metrics.Rejected.WithLabelValues("max_connections").Inc()
		c.sendError(protocol.ErrHighResourceUsage, "")
		c.Close(ws.CloseTryAgainLater, "server at capacity", ws.CausePolicy)
	}
}

// removeConn forgets c once its socket is closed.
func (s *Server) removeConn(c *conn) {
	s.nconns.Add(-1)
	s.metrics.Connections.Dec()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.releaseIP(c.addr)
	s.release()
}

// release ends a socket's reservation.
func (s *Server) release() {
	s.mu.Lock()
	s.active--
	if s.draining.Load() && s.active == 0 {
		close(s.closed)
	}
	s.mu.Unlock()
	s.wg.Done()
}

func originChecker(allowed []string) func(*http.Request) bool {
	if len(allowed) == 0 {
		return func(*http.Request) bool { return true }
	}
	set := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		set[o] = true
	}
	return func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		// Native SDKs send no Origin; the allow-list is for browsers.
		return o == "" || set[o]
	}
}
