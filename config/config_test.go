package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func TestDefaultsAreValid(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":5080" || c.MaxMessageBytes != 256<<10 || c.MaxRoomsPerConn != 16 || c.ProbeTimeout != 2*time.Second {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "duet.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:7000\nmax_rooms_per_conn: 4\nprobe_timeout: 3s\nallowed_origins: [https://a.example]\nrate_limit: 10\n"), 0o600)
	env := map[string]string{"DUET_MAX_ROOMS_PER_CONN": "5", "DUET_RATE_LIMIT": "20", "DUET_ALLOWED_ORIGINS": "https://b.example, https://c.example"}
	c, err := load(t, []string{"--config", file, "--rate-limit", "30"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7000" { // file only
		t.Errorf("listen = %q", c.Listen)
	}
	if c.ProbeTimeout != 3*time.Second { // file only
		t.Errorf("probe_timeout = %v", c.ProbeTimeout)
	}
	if c.MaxRoomsPerConn != 5 { // env beats file
		t.Errorf("max_rooms_per_conn = %d", c.MaxRoomsPerConn)
	}
	if c.RateLimit != 30 { // flag beats env
		t.Errorf("rate_limit = %v", c.RateLimit)
	}
	if strings.Join(c.AllowedOrigins, "|") != "https://b.example|https://c.example" {
		t.Errorf("allowed_origins = %q", c.AllowedOrigins)
	}
	// The file can also come from the environment, and --config=path works.
	if c, err := load(t, nil, map[string]string{"DUET_CONFIG": file}); err != nil || c.MaxRoomsPerConn != 4 {
		t.Errorf("DUET_CONFIG: %v %d", err, c.MaxRoomsPerConn)
	}
	if c, err := load(t, []string{"--config=" + file}, nil); err != nil || c.MaxRoomsPerConn != 4 {
		t.Errorf("--config=: %v %d", err, c.MaxRoomsPerConn)
	}
}

func TestUnknownKeyInFileIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "duet.yaml")
	os.WriteFile(file, []byte("listen: :1\nmax_msg_bytes: 5\n"), 0o600)
	_, err := load(t, []string{"--config", file}, nil)
	if err == nil || !strings.Contains(err.Error(), "max_msg_bytes") {
		t.Fatalf("err = %v, want one naming max_msg_bytes", err)
	}
}

func TestInvalidValuesNameTheField(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		env   map[string]string
		field string
	}{
		{[]string{"--max-message-bytes", "10"}, nil, "max_message_bytes"},
		{[]string{"--send-queue-bytes", "2000"}, nil, "send_queue_bytes"},
		{[]string{"--idle-timeout", "1s", "--ping-interval", "2s"}, nil, "idle_timeout"},
		{[]string{"--probe-timeout", "0s"}, nil, "probe_timeout"},
		{[]string{"--reconnect-grace", "-1s"}, nil, "reconnect_grace"},
		{[]string{"--reconnect-grace", "2h"}, nil, "reconnect_grace"},
		{[]string{"--tls-cert", "x.pem"}, nil, "tls_cert"},
		{[]string{"--stun-uri", "http://x"}, nil, "stun_uri"},
		{[]string{"--log-format", "xml"}, nil, "log_format"},
		{[]string{"--max-connections-per-ip", "-1"}, nil, "max_connections_per_ip"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,nonsense"}, nil, "trusted_proxies"},
		{[]string{"--turn-uris", "stun:x:3478", "--turn-secret", "s"}, nil, "turn_uris"},
		{[]string{"--turn-uris", "turn:x:3478"}, nil, "turn_uris"},
		{[]string{"--turn-secret", "s", "--turn-username", "u", "--turn-credential", "p"}, nil, "turn_secret"},
		{[]string{"--turn-username", "u"}, nil, "turn_username"},
		{[]string{"--turn-credential-ttl", "1s"}, nil, "turn_credential_ttl"},
		{[]string{"--turn-enabled", "--turn-listen", "nope"}, nil, "turn_listen"},
		{[]string{"--turn-enabled", "--turn-public-ip", "example.com"}, nil, "turn_public_ip"},
		{[]string{"--turn-relay-port-min", "50000", "--turn-relay-port-max", "40000"}, nil, "turn_relay_port_max"},
		{[]string{"--turn-bandwidth", "100"}, nil, "turn_bandwidth"},
		{[]string{"--turn-allowed-peers", "10.0.0.0/33"}, nil, "turn_allowed_peers"},
		{[]string{"--token-secret", "short"}, nil, "token_secret"},
		{[]string{"--turn-enabled", "--turn-secret", "fifteen-bytes!!"}, nil, "turn_secret: 15 bytes is too short"},
		{[]string{"--tls-self-signed", "--tls-hsts", "8760h"}, nil, "tls_hsts"},
		{[]string{"--max-held-seats", "-1"}, nil, "max_held_seats"},
		{[]string{"--max-held-seats-per-ip", "-1"}, nil, "max_held_seats_per_ip"},
		{[]string{"--max-held-bytes", "-1"}, nil, "max_held_bytes"},
		{[]string{"--token-key-file", "/no/such/key.pem"}, nil, "token_key_file"},
		{nil, map[string]string{"DUET_MAX_ROOMS_PER_CONN": "many"}, "DUET_MAX_ROOMS_PER_CONN"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
	} {
		_, err := load(t, tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%v %v: err = %v, want one naming %s", tc.args, tc.env, err, tc.field)
		}
	}
}

func TestHelp(t *testing.T) {
	_, err := load(t, []string{"--help"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
}

func TestDescribeCoversEveryField(t *testing.T) {
	d := Describe()
	if len(d) < 20 {
		t.Fatalf("only %d settings described", len(d))
	}
	for _, s := range d {
		if s.Help == "" || !strings.HasPrefix(s.Env, "DUET_") || !strings.HasPrefix(s.Flag, "--") {
			t.Errorf("setting %+v lacks help, env or flag", s)
		}
	}
}

// TestReconnectGrace: 30 s by default, 0 allowed (off), from every layer.
func TestReconnectGrace(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, 30 * time.Second},
		{[]string{"--reconnect-grace", "0"}, nil, 0},
		{nil, map[string]string{"DUET_RECONNECT_GRACE": "1m"}, time.Minute},
		{[]string{"--reconnect-grace", "1h"}, nil, time.Hour},
	} {
		c, err := load(t, tc.args, tc.env)
		if err != nil || c.ReconnectGrace != tc.want {
			t.Errorf("%v %v: reconnect_grace = %v, %v; want %v", tc.args, tc.env, c.ReconnectGrace, err, tc.want)
		}
	}
}

// TestListsInEveryForm: a list setting is a YAML list or one
// comma-separated string, in the file as in the environment and flags.
func TestListsInEveryForm(t *testing.T) {
	want := "https://a.example|https://b.example"
	for _, file := range []string{
		"allowed_origins: [https://a.example, https://b.example]\n",
		"allowed_origins:\n  - https://a.example\n  - https://b.example\n",
		"allowed_origins: https://a.example,https://b.example\n",
		"allowed_origins: \"https://a.example, https://b.example\"\n",
	} {
		path := filepath.Join(t.TempDir(), "duet.yaml")
		os.WriteFile(path, []byte(file), 0o600)
		c, err := load(t, []string{"--config", path}, nil)
		if err != nil || strings.Join(c.AllowedOrigins, "|") != want {
			t.Errorf("%q: %q, %v", file, c.AllowedOrigins, err)
		}
	}
	c, err := load(t, []string{"--allowed-origins", "https://a.example, https://b.example"}, nil)
	if err != nil || strings.Join(c.AllowedOrigins, "|") != want {
		t.Errorf("flag: %q, %v", c.AllowedOrigins, err)
	}
	// An empty value in the file clears a list.
	path := filepath.Join(t.TempDir(), "duet.yaml")
	os.WriteFile(path, []byte("allowed_origins:\n"), 0o600)
	if c, err := load(t, []string{"--config", path}, map[string]string{}); err != nil || len(c.AllowedOrigins) != 0 {
		t.Errorf("empty: %q, %v", c.AllowedOrigins, err)
	}
}

// TestFileValuesParseLikeFlags: the file's values mean what the same text
// means as a flag.
func TestFileValuesParseLikeFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "duet.yaml")
	os.WriteFile(path, []byte("idle_timeout: 1m30s\nrate_limit: 12.5\ntls_self_signed: true\nmax_connections: 7\nlisten: \"5080\"\n"), 0o600)
	c, err := load(t, []string{"--config", path}, nil)
	if err == nil || err.Error() != `listen: "5080" is not host:port; write e.g. :5080` {
		t.Errorf("listen 5080: %v", err)
	}
	if c.IdleTimeout != 90*time.Second || c.RateLimit != 12.5 || !c.TLSSelfSigned || c.MaxConnections != 7 || c.Listen != "5080" {
		t.Errorf("%+v", c)
	}
}
