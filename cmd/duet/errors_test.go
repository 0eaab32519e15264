package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badCase is a command line (with DUET_* variables and a config file)
// that must be refused with exactly this message and exit code.
type badCase struct {
	name string
	args []string
	env  map[string]string
	file string // written to a duet.yaml; "FILE" in args and want is its path
	code int
	want string // the whole of stderr
}

// badCases: every mistake names the flag, key or variable, the value, and
// what to write instead; a mistake in the command line points at --help in
// one line instead of printing the whole usage.
var badCases = []badCase{
	{name: "duration flag", args: strings.Fields("serve --idle-timeout 45"), env: nil, file: "", code: 2, want: "duet serve: --idle-timeout: 45 is not a duration; write 45s\nrun 'duet serve --help' for the flags\n"},
	{name: "duration flag word", args: strings.Fields("serve --drain-timeout soon"), env: nil, file: "", code: 2, want: "duet serve: --drain-timeout: soon is not a duration; write it with a unit, e.g. 10s\nrun 'duet serve --help' for the flags\n"},
	{name: "unknown flag", args: strings.Fields("serve --listn :5080"), env: nil, file: "", code: 2, want: "duet serve: unknown flag --listn; did you mean --listen?\nrun 'duet serve --help' for the flags\n"},
	{name: "flag with underscores", args: strings.Fields("serve --max_message_bytes 5"), env: nil, file: "", code: 2, want: "duet serve: unknown flag --max_message_bytes; did you mean --max-message-bytes?\nrun 'duet serve --help' for the flags\n"},
	{name: "flag as a prefix", args: strings.Fields("serve --webhook-tim 5s"), env: nil, file: "", code: 2, want: "duet serve: unknown flag --webhook-tim; did you mean --webhook-timeout?\nrun 'duet serve --help' for the flags\n"},
	{name: "boolean flag followed by false", args: strings.Fields("serve --tls-self-signed false"), env: nil, file: "", code: 2, want: "duet serve: unexpected argument \"false\" after --tls-self-signed: a boolean flag takes its value with =, as in --tls-self-signed=false\nrun 'duet serve --help' for the flags\n"},
	{name: "stray argument", args: strings.Fields("serve extra"), env: nil, file: "", code: 2, want: "duet serve: unexpected argument \"extra\" (this command takes flags only)\nrun 'duet serve --help' for the flags\n"},
	{name: "whole number", args: strings.Fields("serve --max-connections 10k"), env: nil, file: "", code: 2, want: "duet serve: --max-connections: 10k is not a whole number; write digits only, e.g. 100000\nrun 'duet serve --help' for the flags\n"},
	{name: "float number", args: strings.Fields("serve --rate-limit fast"), env: nil, file: "", code: 2, want: "duet serve: --rate-limit: fast is not a number; write e.g. 50\nrun 'duet serve --help' for the flags\n"},
	{name: "boolean value", args: strings.Fields("serve --turn-enabled=maybe"), env: nil, file: "", code: 2, want: "duet serve: --turn-enabled: maybe is not true or false\nrun 'duet serve --help' for the flags\n"},
	{name: "missing value", args: strings.Fields("serve --listen"), env: nil, file: "", code: 2, want: "duet serve: --listen needs a value, e.g. --listen :5080\nrun 'duet serve --help' for the flags\n"},
	{name: "no command default serve", args: strings.Fields("--idle-timeout 45"), env: nil, file: "", code: 2, want: "duet serve: --idle-timeout: 45 is not a duration; write 45s\nrun 'duet serve --help' for the flags\n"},
	{name: "env duration", args: strings.Fields("serve"), env: map[string]string{"DUET_IDLE_TIMEOUT": "45"}, file: "", code: 2, want: "duet serve: invalid configuration:\n  DUET_IDLE_TIMEOUT: 45 is not a duration; write 45s\n"},
	{name: "env boolean", args: strings.Fields("serve"), env: map[string]string{"DUET_TLS_SELF_SIGNED": "maybe"}, file: "", code: 2, want: "duet serve: invalid configuration:\n  DUET_TLS_SELF_SIGNED: maybe is not true or false\n"},
	{name: "file unknown key", args: strings.Fields("serve --config FILE"), env: nil, file: "listn: :5080\n", code: 2, want: "duet serve: invalid configuration:\n  FILE:1: unknown key listn; did you mean listen? (duet serve --help lists the keys, as flags)\n"},
	{name: "file duration", args: strings.Fields("serve --config FILE"), env: nil, file: "listen: :5080\nidle_timeout: 45\n", code: 2, want: "duet serve: invalid configuration:\n  FILE:2: idle_timeout: 45 is not a duration; write 45s\n"},
	{name: "file hyphenated key", args: strings.Fields("serve --config FILE"), env: nil, file: "max-message-bytes: 5\n", code: 2, want: "duet serve: invalid configuration:\n  FILE:1: unknown key max-message-bytes; did you mean max_message_bytes? (duet serve --help lists the keys, as flags)\n"},
	{name: "file list as mapping", args: strings.Fields("serve --config FILE"), env: nil, file: "allowed_origins:\n  a: b\n", code: 2, want: "duet serve: invalid configuration:\n  FILE:1: allowed_origins: a mapping here, but it takes a list; write e.g. [https://call.example.com, https://www.example.com], or the same comma-separated in one string\n"},
	{name: "file number as list", args: strings.Fields("serve --config FILE"), env: nil, file: "max_connections: [1, 2]\n", code: 2, want: "duet serve: invalid configuration:\n  FILE:1: max_connections: a list here, but it takes one value; write e.g. 100000\n"},
	{name: "file not a mapping", args: strings.Fields("serve --config FILE"), env: nil, file: "- listen\n- :5080\n", code: 2, want: "duet serve: invalid configuration:\n  FILE:1: the file must be YAML keys with values, one per line, e.g. \"listen: :5080\"\n"},
	{name: "file syntax", args: strings.Fields("serve --config FILE"), env: nil, file: "listen: [:5080\n", code: 2, want: "duet serve: invalid configuration:\n  FILE: not valid YAML: did not find expected node content (write one key: value a line, e.g. listen: :5080)\n"},
	{name: "file two mistakes", args: strings.Fields("serve --config FILE"), env: nil, file: "idle_timeout: 45\nrate_limit: fast\n", code: 2, want: "duet serve: invalid configuration:\n  FILE:1: idle_timeout: 45 is not a duration; write 45s\n  FILE:2: rate_limit: fast is not a number; write e.g. 50\n"},
	{name: "too small", args: strings.Fields("serve --max-message-bytes 10"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  max_message_bytes: 10 is below the smallest, 1024; write e.g. 262144\n"},
	{name: "idle below ping", args: strings.Fields("serve --idle-timeout 1s --ping-interval 2s"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  idle_timeout: 1s is not longer than ping_interval (2s); write e.g. 6s\n"},
	{name: "grace out of range", args: strings.Fields("serve --reconnect-grace 2h"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  reconnect_grace: 2h is out of range; write 0 (off) up to 1h, e.g. 30s\n"},
	{name: "stun uri", args: strings.Fields("serve --stun-uri http://x"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  stun_uri: \"http://x\" does not start with stun:, stuns:, turn: or turns:; write e.g. stun:stun.example.com:3478\n"},
	{name: "log format", args: strings.Fields("serve --log-format xml"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  log_format: \"xml\" is not auto, json or text\n"},
	{name: "short token secret", args: strings.Fields("serve"), env: map[string]string{"DUET_TOKEN_SECRET": "short"}, file: "", code: 2, want: "duet serve: invalid configuration:\n  token_secret: 5 bytes is too short; write at least 32 (HS256 needs 256 bits), e.g. the output of openssl rand -base64 32\n"},
	{name: "cert without key", args: strings.Fields("serve --tls-cert x.pem"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  tls_cert: tls_cert and tls_key go together; set both (PEM files), or neither\n"},
	{name: "replicas on embedded NATS", args: strings.Fields("serve --nats-embedded --nats-kv-replicas 3"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  nats_kv_replicas: 3 needs a NATS cluster of 3 servers, but nats_embedded runs one; write 1\n"},
	{name: "two NATS", args: strings.Fields("serve --nats-url nats://n1:4222 --nats-embedded"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  nats_url: \"nats://n1:4222\" and nats_embedded: true both choose the NATS server; keep one\n"},
	{name: "relay ports", args: strings.Fields("serve --turn-relay-port-min 50000 --turn-relay-port-max 40000"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  turn_relay_port_max: 40000 is not between turn_relay_port_min (50000) and 65535; write e.g. 65535\n"},
	{name: "webhook url", args: strings.Fields("serve --webhook-urls ftp://x --webhook-secret 0123456789abcdef"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  webhook_urls: \"ftp://x\" is not an http:// or https:// URL; write e.g. https://app.example.com/duet-events\n"},
	{name: "trusted proxy", args: strings.Fields("serve --trusted-proxies 10.0.0.0/8,nonsense"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  trusted_proxies: \"nonsense\" is not a CIDR or IP address; write e.g. 10.0.0.0/16 or 127.0.0.1\n"},
	{name: "several at once", args: strings.Fields("serve --max-message-bytes 10 --log-level loud"), env: nil, file: "", code: 2, want: "duet serve: invalid configuration:\n  max_message_bytes: 10 is below the smallest, 1024; write e.g. 262144\n  log_level: \"loud\" is not debug, info, warn or error\n"},
	{name: "unknown command", args: strings.Fields("serv"), env: nil, file: "", code: 2, want: "duet: unknown command \"serv\"; did you mean serve?\nrun 'duet --help' for the commands\n"},
	{name: "token short secret", args: strings.Fields("token --room r1 --key short"), env: nil, file: "", code: 2, want: "duet token: the HS256 secret (--key, --key-file or DUET_TOKEN_SECRET): 5 bytes is too short; write at least 32 (HS256 needs 256 bits), e.g. the output of openssl rand -base64 32; the server refuses such a token_secret\nrun 'duet token --help' for the flags\n"},
	{name: "token short secret env", args: strings.Fields("token --room r1"), env: map[string]string{"DUET_TOKEN_SECRET": "12345"}, file: "", code: 2, want: "duet token: the HS256 secret (--key, --key-file or DUET_TOKEN_SECRET): 5 bytes is too short; write at least 32 (HS256 needs 256 bits), e.g. the output of openssl rand -base64 32; the server refuses such a token_secret\nrun 'duet token --help' for the flags\n"},
	{name: "token without room", args: strings.Fields("token --key a-test-secret-of-at-least-32-bytes!!"), env: nil, file: "", code: 2, want: "duet token: --room is required, e.g. --room standup (or --subscriber for a push token)\nrun 'duet token --help' for the flags\n"},
	{name: "token ttl", args: strings.Fields("token --room r1 --ttl 1"), env: nil, file: "", code: 2, want: "duet token: --ttl: 1 is not a duration; write 1s\nrun 'duet token --help' for the flags\n"},
	{name: "token stray", args: strings.Fields("token --room r1 r2"), env: nil, file: "", code: 2, want: "duet token: unexpected argument \"r2\" (this command takes flags only)\nrun 'duet token --help' for the flags\n"},
	{name: "rooms unknown command", args: strings.Fields("rooms lss"), env: nil, file: "", code: 2, want: "duet rooms: unknown command \"lss\" (ls, show, end, kick, stats); did you mean ls?\nrun 'duet rooms --help' for the flags\n"},
	{name: "rooms not app/room", args: strings.Fields("rooms show standup"), env: map[string]string{"DUET_ADMIN_KEY": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}, file: "", code: 2, want: "duet rooms: \"standup\" is not APP/ROOM; write e.g. WebRTCAppEE/standup\nrun 'duet rooms --help' for the flags\n"},
	{name: "rooms no key", args: strings.Fields("rooms ls"), env: nil, file: "", code: 2, want: "duet rooms: no admin key: set DUET_ADMIN_KEY (or --admin-key) to the server's admin_key\nrun 'duet rooms --help' for the flags\n"},
	{name: "rooms no command", args: strings.Fields("rooms"), env: nil, file: "", code: 2, want: "duet rooms: which command? ls, show, end, kick or stats\nrun 'duet rooms --help' for the commands and flags\n"},
	{name: "rooms unknown flag", args: strings.Fields("rooms ls --limt 5"), env: nil, file: "", code: 2, want: "duet rooms: unknown flag --limt; did you mean --limit?\nrun 'duet rooms --help' for the flags\n"},
	{name: "peer room name", args: []string{"peer", "--room", "a b"}, env: nil, file: "", code: 2, want: "duet peer: --room: \"a b\" is not a room name; write up to 128 of A-Z a-z 0-9 _ . -, e.g. r1\nrun 'duet peer --help' for the flags\n"},
	{name: "peer stray", args: strings.Fields("peer --room r1 extra"), env: nil, file: "", code: 2, want: "duet peer: unexpected argument \"extra\" (this command takes flags only)\nrun 'duet peer --help' for the flags\n"},
	{name: "peer without room", args: strings.Fields("peer"), env: nil, file: "", code: 2, want: "duet peer: --room is required, e.g. --room r1\nrun 'duet peer --help' for the flags\n"},
	{name: "turn stray", args: strings.Fields("turn extra"), env: nil, file: "", code: 2, want: "duet turn: unexpected argument \"extra\" (this command takes flags only)\nrun 'duet turn --help' for the flags\n"},
	{name: "turn unknown flag", args: strings.Fields("turn --turn-listn :3478"), env: nil, file: "", code: 2, want: "duet turn: unknown flag --turn-listn; did you mean --turn-listen?\nrun 'duet turn --help' for the flags\n"},
	{name: "turn TLS on listen", args: strings.Fields("turn --listen :5080 --turn-tls-listen :5080 --tls-self-signed"), env: nil, file: "", code: 2, want: "duet turn: invalid configuration:\n  turn_tls_listen: \":5080\" is listen too, which serves health and metrics in duet turn; write another port, e.g. :5349\n"},
	{name: "bench number", args: strings.Fields("bench idle --conns many"), env: nil, file: "", code: 2, want: "duet bench: --conns: many is not a whole number; write digits only, e.g. 1000\nrun 'duet bench --help' for the flags\n"},
	{name: "bench no scenario", args: strings.Fields("bench"), env: nil, file: "", code: 2, want: "duet bench: a scenario comes first: idle, relay, setup, quality, attack-header, attack-byte, handshake or storm\nrun 'duet bench --help' for the flags\n"},
	{name: "version flag", args: strings.Fields("version --jsn"), env: nil, file: "", code: 2, want: "duet version: unknown flag --jsn; did you mean --json?\nrun 'duet version --help' for the flags\n"},
	{name: "healthcheck missing value", args: strings.Fields("healthcheck --url"), env: nil, file: "", code: 2, want: "duet healthcheck: --url needs a value\nrun 'duet healthcheck --help' for the flags\n"},
}

func TestBadCommandLines(t *testing.T) {
	if len(badCases) < 30 {
		t.Errorf("only %d cases", len(badCases))
	}
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				path := filepath.Join(t.TempDir(), "duet.yaml")
				if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = nil
				for _, a := range tc.args {
					args = append(args, strings.ReplaceAll(a, "FILE", path))
				}
				tc.want = strings.ReplaceAll(tc.want, "FILE", path)
			}
			var out, errb strings.Builder
			code := run(t.Context(), args, &out, &errb, func(k string) string { return tc.env[k] })
			if code != tc.code || errb.String() != tc.want {
				t.Errorf("duet %s\nexit %d, want %d\nstderr:\n%s\nwant:\n%s", strings.Join(args, " "), code, tc.code, errb.String(), tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", out.String())
			}
		})
	}
}
