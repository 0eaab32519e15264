// Package config holds duet's one Config struct and loads it in layers:
// embedded defaults, then an optional YAML file, then DUET_* environment
// variables, then command-line flags. Each field's YAML key, environment
// variable and flag come from its yaml tag: max_message_bytes is
// DUET_MAX_MESSAGE_BYTES and --max-message-bytes.
package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the server.
type Config struct {
	Listen  string `yaml:"listen" help:"address to listen on (host:port)"`
	TLSCert string `yaml:"tls_cert" help:"TLS certificate file (PEM); with tls_key serves HTTPS/WSS"`
	TLSKey  string `yaml:"tls_key" help:"TLS private key file (PEM)"`

	TLSSelfSigned  bool     `yaml:"tls_self_signed" help:"serve HTTPS/WSS with a certificate made for this machine's names and addresses, kept in data_dir (to try duet on a phone on the LAN)"`
	TLSACMEDomains []string `yaml:"tls_acme_domains" help:"public host names to get certificates for from an ACME CA, comma-separated; the CA must reach this server on port 443 (TLS-ALPN-01) or http_listen on port 80 (HTTP-01)"`
	TLSACMEEmail   string   `yaml:"tls_acme_email" help:"contact address given to the ACME CA (it warns there of certificates about to expire)"`
	TLSACMECA      string   `yaml:"tls_acme_ca" help:"ACME directory URL of the CA (by using it you accept its terms of service)"`
	TLSACMECARoot  string   `yaml:"tls_acme_ca_root" help:"PEM file of CA certificates to trust for the ACME directory's HTTPS, for a private or test CA (empty: the system's)"`
	TLSHSTS        string   `yaml:"tls_hsts" help:"Strict-Transport-Security on HTTPS responses: auto (one year with ACME certificates, none otherwise), off, or a max-age such as 8760h"`
	HTTPListen     string   `yaml:"http_listen" help:"address of a plain-HTTP listener that redirects to HTTPS and answers ACME HTTP-01 challenges, e.g. :80 (empty: none)"`
	DataDir        string   `yaml:"data_dir" help:"directory for state kept across restarts: the self-signed certificate, the ACME account and certificates, the TURN secret, the TLS session ticket secret (empty: $STATE_DIRECTORY under systemd, else the user's config directory + /duet)"`

	TLSTicketSecretFile string        `yaml:"tls_ticket_secret_file" help:"file with the secret TLS session ticket keys are derived from (16 bytes or more); give every node of a cluster the same file so that clients resume their TLS sessions on any node (empty: a random secret made once and kept in data_dir)"`
	TLSTicketRotation   time.Duration `yaml:"tls_ticket_rotation" help:"how often the TLS session ticket key changes (1h to 168h); tickets of older keys are still accepted for 7 days"`

	MaxMessageBytes int           `yaml:"max_message_bytes" help:"largest accepted WebSocket message in bytes"`
	SendQueueBytes  int           `yaml:"send_queue_bytes" help:"bytes queued for a slow reader before it is disconnected"`
	MaxRoomsPerConn int           `yaml:"max_rooms_per_conn" help:"rooms one socket may be in at once"`
	MaxConnections  int           `yaml:"max_connections" help:"open sockets before new ones get highResourceUsage (0: no limit)"`
	RateLimit       float64       `yaml:"rate_limit" help:"messages per second per socket, sustained (0: no limit)"`
	RateBurst       int           `yaml:"rate_burst" help:"messages per socket allowed in a burst above rate_limit"`
	IdleTimeout     time.Duration `yaml:"idle_timeout" help:"close a socket silent (no frame, no pong) for this long"`
	PingInterval    time.Duration `yaml:"ping_interval" help:"interval of server WebSocket pings (jittered by 10%)"`
	WriteTimeout    time.Duration `yaml:"write_timeout" help:"deadline for one write to a socket"`
	ProbeTimeout    time.Duration `yaml:"probe_timeout" help:"time a member of a full room has to answer a liveness probe"`
	DrainTimeout    time.Duration `yaml:"drain_timeout" help:"on SIGTERM, time clients get to leave before sockets are closed"`
	ReconnectGrace  time.Duration `yaml:"reconnect_grace" help:"how long the seat of a client that joined with resumable: true is held after its socket is lost without leave (0: never; resumable is ignored)"`
	MaxHeldSeats    int           `yaml:"max_held_seats" help:"seats held at once for lost sockets on this node; past it a lost socket leaves at once, as if it had not asked to resume (0: no limit)"`
	MaxHeldPerIP    int           `yaml:"max_held_seats_per_ip" help:"seats held at once for the lost sockets of one client address (an IPv6 /64 counts as one address); past it they leave at once (0: no limit)"`
	MaxHeldBytes    int           `yaml:"max_held_bytes" help:"bytes of relayed frames kept for all held seats together; a frame past it ends its seat's hold as if the grace ran out (0: no limit)"`
	MaxPeers        []string      `yaml:"max_peers" help:"apps whose rooms may be mesh rooms (group calls), as app=max pairs, comma-separated; app may be a pattern (path.Match: *, ?, [...]); the first match counts; within it a room's first joiner sets the room's limit (maxPeers); every other app's rooms hold 2"`
	AllowedOrigins  []string      `yaml:"allowed_origins" help:"browser origins allowed to connect, comma-separated (empty: all)"`

	MaxConnectionsPerIP int      `yaml:"max_connections_per_ip" help:"open sockets one client address may hold; more get HTTP 429 (0: no limit)"`
	TrustedProxies      []string `yaml:"trusted_proxies" help:"CIDRs of reverse proxies whose X-Forwarded-For is believed, comma-separated (empty: none)"`

	StunURI           string        `yaml:"stun_uri" help:"STUN URI sent in iceServerConfig (stun:host:port; a turn: URI is accepted for compatibility)"`
	TurnURIs          []string      `yaml:"turn_uris" help:"external TURN URIs sent in iceServerConfig, comma-separated (turn:host:3478?transport=udp, turns:host:5349?transport=tcp)"`
	TurnUsername      string        `yaml:"turn_username" help:"static TURN username sent with turn_uris (or with a turn: stun_uri)"`
	TurnCredential    string        `yaml:"turn_credential" help:"static TURN password sent with turn_username"`
	TurnSecret        string        `yaml:"turn_secret" help:"shared secret (coturn static-auth-secret) for time-limited TURN credentials; also checks the embedded TURN server's (empty: the one in turn_secret_file)"`
	TurnSecretFile    string        `yaml:"turn_secret_file" help:"file that keeps the TURN secret when turn_secret is empty; a TURN server (turn_enabled, duet turn) creates it with a random secret, mode 0600, when missing (empty: turn_secret in data_dir)"`
	TurnCredentialTTL time.Duration `yaml:"turn_credential_ttl" help:"lifetime of minted TURN credentials; make it longer than the longest call"`

	TurnEnabled           bool     `yaml:"turn_enabled" help:"run the embedded TURN/STUN server (UDP and TCP on turn_listen, TLS on turn_tls_listen)"`
	TurnListen            string   `yaml:"turn_listen" help:"UDP and TCP address of the embedded TURN server"`
	TurnTLSListen         string   `yaml:"turn_tls_listen" help:"address of the embedded TURN server over TLS, with the server's certificate, e.g. :5349 or :443; the address of listen shares that port with HTTPS (empty: no TURN over TLS)"`
	TurnHost              string   `yaml:"turn_host" help:"host in the embedded TURN server's advertised URIs (empty: turn_public_ip, and for turns: the first of tls_acme_domains when set); turns: needs a name or IP the certificate holds"`
	TurnPublicIP          string   `yaml:"turn_public_ip" help:"IP clients reach the embedded TURN server at: its relay address and the host of advertised URIs (empty: the listen IP, else the first non-loopback interface address)"`
	TurnRelayAddress      string   `yaml:"turn_relay_address" help:"local IP the embedded TURN server binds relay sockets on"`
	TurnRelayPortMin      int      `yaml:"turn_relay_port_min" help:"lowest UDP port for relay sockets"`
	TurnRelayPortMax      int      `yaml:"turn_relay_port_max" help:"highest UDP port for relay sockets"`
	TurnRealm             string   `yaml:"turn_realm" help:"realm of the embedded TURN server"`
	TurnUserQuota         int      `yaml:"turn_user_quota" help:"allocations one TURN credential may hold at once (0: no limit)"`
	TurnTokenQuota        int      `yaml:"turn_token_quota" help:"allocations the credentials minted for one room token may hold at once, however many sockets bring it (0: no limit)"`
	TurnIPQuota           int      `yaml:"turn_ip_quota" help:"allocations one client address may hold at once on the embedded TURN server (0: no limit)"`
	TurnMaxAllocations    int      `yaml:"turn_max_allocations" help:"allocations the embedded TURN server holds at once (0: no limit)"`
	TurnBandwidth         int      `yaml:"turn_bandwidth" help:"bytes per second one allocation may relay in each direction; excess packets are dropped (0: no limit)"`
	TurnAllowPrivatePeers bool     `yaml:"turn_allow_private_peers" help:"let the embedded TURN server relay to loopback, private, link-local and other non-public addresses"`
	TurnAllowedPeers      []string `yaml:"turn_allowed_peers" help:"CIDRs the embedded TURN server may relay to even though they are not public, comma-separated"`

	TokenSecret  string `yaml:"token_secret" help:"HS256 secret for room access tokens; when set (or token_key_file), join needs a valid token"`
	TokenKeyFile string `yaml:"token_key_file" help:"PEM public key (RS256/ES256) or JWKS file for room access tokens"`

	DebugListen string `yaml:"debug_listen" help:"address for Go's pprof profiles at /debug/pprof/ (empty: off; keep it private)"`

	AdminKey    string `yaml:"admin_key" help:"bearer key for the admin API (/v1/admin/) and page (/admin), at least 32 characters (empty and admin_tokens false: both off)"`
	AdminTokens bool   `yaml:"admin_tokens" help:"also accept as admin credentials JWTs signed with the room-token keys that carry \"admin\": true"`

	WebhookURLs        []string      `yaml:"webhook_urls" help:"URLs that receive room events (peer_joined, call_started, call_ended, peer_left) as signed JSON POSTs, comma-separated (empty: none)"`
	WebhookSecret      string        `yaml:"webhook_secret" help:"HMAC-SHA256 key that signs webhook requests, at least 16 characters; required with webhook_urls"`
	WebhookQueue       int           `yaml:"webhook_queue" help:"webhook deliveries waiting at most; when full the oldest is dropped"`
	WebhookTimeout     time.Duration `yaml:"webhook_timeout" help:"time a webhook receiver has to answer one request"`
	WebhookMaxAttempts int           `yaml:"webhook_max_attempts" help:"attempts per webhook delivery before it is given up (backoff 1s doubling to 60s)"`

	LogFormat string `yaml:"log_format" help:"log format: auto (text on a terminal, else json), json or text"`
	LogLevel  string `yaml:"log_level" help:"log level: debug, info, warn or error"`

	NATSURL            string        `yaml:"nats_url" help:"NATS server URLs with JetStream, comma-separated: rooms span every duet node on it (empty: rooms stay in this process)"`
	NATSEmbedded       bool          `yaml:"nats_embedded" help:"run a single NATS server with JetStream inside duet and cluster on it (development)"`
	NATSEmbeddedListen string        `yaml:"nats_embedded_listen" help:"client address of the embedded NATS server, for other duet nodes' nats_url"`
	NATSStoreDir       string        `yaml:"nats_store_dir" help:"JetStream directory of the embedded NATS server (empty: a temporary one)"`
	NATSKVReplicas     int           `yaml:"nats_kv_replicas" help:"replicas of the room membership bucket (3 on a three-node NATS cluster)"`
	NodeID             string        `yaml:"node_id" help:"this node's name in the cluster, unique among live nodes (empty: random)"`
	NodeDeadAfter      time.Duration `yaml:"node_dead_after" help:"heartbeat silence after which a cluster node is probed directly, and declared dead (its members removed) if it does not answer within as long again"`
	NATSStartTimeout   time.Duration `yaml:"nats_start_timeout" help:"how long a cluster node waits at start for NATS and JetStream to answer before it gives up"`

	// Call quality and records, push notifications (reports.go).
	CallRecords int `yaml:"call_records" help:"records of the last calls this node ended, kept for the admin API's /v1/admin/calls (0: none; the call_ended webhook is sent either way)"`

	PushFCMCredentials   string  `yaml:"push_fcm_credentials" help:"Google service-account key file (JSON) of the Firebase project: turns on registerPushNotificationToken and sendPushNotification for pnsType fcm"`
	PushFCMEndpoint      string  `yaml:"push_fcm_endpoint" help:"base URL of FCM's HTTP v1 API (the service account's token_uri gives the OAuth endpoint)"`
	PushAPNsKeyFile      string  `yaml:"push_apns_key_file" help:"APNs authentication key (.p8): turns on the push commands for pnsType apn, with push_apns_key_id, push_apns_team_id and push_apns_topic"`
	PushAPNsKeyID        string  `yaml:"push_apns_key_id" help:"key id of push_apns_key_file"`
	PushAPNsTeamID       string  `yaml:"push_apns_team_id" help:"Apple developer team id that owns the key"`
	PushAPNsTopic        string  `yaml:"push_apns_topic" help:"the iOS app's bundle id (with .voip for push_apns_push_type voip)"`
	PushAPNsPushType     string  `yaml:"push_apns_push_type" help:"apns-push-type of notifications: alert or voip"`
	PushAPNsEndpoint     string  `yaml:"push_apns_endpoint" help:"base URL of APNs (https://api.sandbox.push.apple.com for development builds of the app)"`
	PushCAFile           string  `yaml:"push_ca_file" help:"PEM certificates to trust for FCM's and APNs's HTTPS besides the system's (a proxy's)"`
	PushRate             float64 `yaml:"push_rate" help:"sendPushNotification commands per second one sender (app and subscriberId) may make, sustained"`
	PushBurst            int     `yaml:"push_burst" help:"sendPushNotification commands one sender may make at once"`
	PushMaxRegistrations int     `yaml:"push_max_registrations" help:"devices this node keeps registered; past it the subscriber registered longest ago is forgotten"`
}

// MaxReconnectGrace bounds reconnect_grace: a held seat keeps its room
// full, so a long grace locks others out of a room whose member is gone.
const MaxReconnectGrace = time.Hour

// Default returns the embedded defaults.
func Default() Config {
	return Config{
		Listen:               ":5080",
		TLSACMECA:            "https://acme-v02.api.letsencrypt.org/directory",
		TLSHSTS:              "auto",
		TLSTicketRotation:    24 * time.Hour,
		MaxMessageBytes:      256 << 10,
		SendQueueBytes:       1 << 20,
		MaxRoomsPerConn:      16,
		MaxConnections:       100000,
		RateLimit:            50,
		RateBurst:            200,
		IdleTimeout:          45 * time.Second,
		PingInterval:         15 * time.Second,
		WriteTimeout:         10 * time.Second,
		ProbeTimeout:         2 * time.Second,
		DrainTimeout:         10 * time.Second,
		ReconnectGrace:       30 * time.Second,
		MaxHeldSeats:         10000,
		MaxHeldPerIP:         32,
		MaxHeldBytes:         256 << 20,
		LogFormat:            "auto",
		LogLevel:             "info",
		NATSEmbeddedListen:   "127.0.0.1:4222",
		NATSKVReplicas:       1,
		NodeDeadAfter:        1500 * time.Millisecond,
		NATSStartTimeout:     time.Minute,
		TurnCredentialTTL:    24 * time.Hour,
		TurnListen:           ":3478",
		TurnRelayAddress:     "0.0.0.0",
		TurnRelayPortMin:     49152,
		TurnRelayPortMax:     65535,
		TurnRealm:            "duet",
		TurnUserQuota:        10,
		TurnTokenQuota:       20,
		TurnIPQuota:          64,
		TurnMaxAllocations:   10000,
		TurnBandwidth:        1 << 20,
		WebhookQueue:         10000,
		WebhookTimeout:       5 * time.Second,
		WebhookMaxAttempts:   12,
		CallRecords:          1000,
		PushFCMEndpoint:      "https://fcm.googleapis.com",
		PushAPNsPushType:     "alert",
		PushAPNsEndpoint:     "https://api.push.apple.com",
		PushRate:             0.2,
		PushBurst:            5,
		PushMaxRegistrations: 100000,
	}
}

// Validate reports every invalid field, naming it by its YAML key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.Listen == "" {
		bad("listen", "must not be empty; write host:port, e.g. :5080 or 127.0.0.1:5080")
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		example := ":5080"
		if _, err := strconv.Atoi(c.Listen); err == nil {
			example = ":" + c.Listen
		}
		bad("listen", "%q is not host:port; write e.g. %s", c.Listen, example)
	}
	c.validateTLS(bad)
	if c.MaxMessageBytes < 1024 {
		bad("max_message_bytes", "%d is below the smallest, 1024; write e.g. 262144", c.MaxMessageBytes)
	}
	if c.SendQueueBytes < c.MaxMessageBytes {
		bad("send_queue_bytes", "%d is less than max_message_bytes (%d); write at least that, e.g. %d", c.SendQueueBytes, c.MaxMessageBytes, 4*c.MaxMessageBytes)
	}
	if c.MaxRoomsPerConn < 1 {
		bad("max_rooms_per_conn", "%d is below 1; write e.g. 16", c.MaxRoomsPerConn)
	}
	if c.MaxConnections < 0 {
		bad("max_connections", "%d is negative; write 0 for no limit, or e.g. 100000", c.MaxConnections)
	}
	if c.RateLimit < 0 {
		bad("rate_limit", "%g is negative; write 0 for no limit, or e.g. 50", c.RateLimit)
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		bad("rate_burst", "%d is below 1 while rate_limit is set; write e.g. 200", c.RateBurst)
	}
	def := Default()
	for _, d := range []struct {
		name     string
		v, write time.Duration
	}{{"idle_timeout", c.IdleTimeout, def.IdleTimeout}, {"ping_interval", c.PingInterval, def.PingInterval},
		{"write_timeout", c.WriteTimeout, def.WriteTimeout}, {"probe_timeout", c.ProbeTimeout, def.ProbeTimeout},
		{"drain_timeout", c.DrainTimeout, def.DrainTimeout}} {
		if d.v <= 0 {
			bad(d.name, "%s is not positive; write e.g. %s", short(d.v), short(d.write))
		}
	}
	if c.ReconnectGrace < 0 || c.ReconnectGrace > MaxReconnectGrace {
		bad("reconnect_grace", "%s is out of range; write 0 (off) up to %s, e.g. 30s", short(c.ReconnectGrace), short(MaxReconnectGrace))
	}
	if c.MaxHeldSeats < 0 {
		bad("max_held_seats", "%d is negative; write 0 for no limit, or e.g. %d", c.MaxHeldSeats, Default().MaxHeldSeats)
	}
	if c.MaxHeldPerIP < 0 {
		bad("max_held_seats_per_ip", "%d is negative; write 0 for no limit, or e.g. %d", c.MaxHeldPerIP, Default().MaxHeldPerIP)
	}
	c.validateMaxPeers(bad)
	if c.MaxHeldBytes < 0 {
		bad("max_held_bytes", "%d is negative; write 0 for no limit, or e.g. %d", c.MaxHeldBytes, Default().MaxHeldBytes)
	}
	if c.PingInterval > 0 && c.IdleTimeout > 0 && c.IdleTimeout <= c.PingInterval {
		bad("idle_timeout", "%s is not longer than ping_interval (%s); write e.g. %s", short(c.IdleTimeout), short(c.PingInterval), short(3*c.PingInterval))
	}
	if c.StunURI != "" && !hasAnyPrefix(c.StunURI, "stun:", "stuns:", "turn:", "turns:") {
		bad("stun_uri", "%q does not start with stun:, stuns:, turn: or turns:; write e.g. stun:stun.example.com:3478", c.StunURI)
	}
	c.validateSecurity(bad)
	c.validateTURN(bad)
	c.validateOps(bad)
	c.validateReports(bad)
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		bad("log_format", "%q is not auto, json or text", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.NATSURL != "" && c.NATSEmbedded {
		bad("nats_url", "%q and nats_embedded: true both choose the NATS server; keep one", c.NATSURL)
	}
	if c.NATSKVReplicas < 1 || c.NATSKVReplicas > 5 {
		bad("nats_kv_replicas", "%d is out of range; write 1 to 5 (3 on a three-server NATS cluster)", c.NATSKVReplicas)
	} else if c.NATSEmbedded && c.NATSKVReplicas > 1 {
		bad("nats_kv_replicas", "%d needs a NATS cluster of %d servers, but nats_embedded runs one; write 1", c.NATSKVReplicas, c.NATSKVReplicas)
	}
	if c.NodeID != "" && !validNodeID(c.NodeID) {
		bad("node_id", "%q is not 1 to 64 of A-Z a-z 0-9 _ -; write e.g. duet-1", c.NodeID)
	}
	if c.NATSStartTimeout < time.Second {
		bad("nats_start_timeout", "%s is below 1s; write e.g. 1m", short(c.NATSStartTimeout))
	}
	if c.NodeDeadAfter < 500*time.Millisecond {
		bad("node_dead_after", "%s is below 500ms; write e.g. 1.5s", short(c.NodeDeadAfter))
	}
	return errors.Join(errs...)
}

func validNodeID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if len(s) >= len(p) && s[:len(p)] == p {
			return true
		}
	}
	return false
}

// short writes d as it would be typed: 2h rather than 2h0m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
