package config

import (
	"strings"
	"testing"
)

func TestTURNSettingsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--turn-enabled", "--tls-self-signed", "--turn-tls-listen", "5349"}, "turn_tls_listen"},
		{[]string{"--tls-self-signed", "--turn-tls-listen", ":5349"}, "turn_tls_listen"},                   // TURN is off
		{[]string{"--turn-enabled", "--turn-tls-listen", ":5349"}, "turn_tls_listen"},                      // no certificate
		{[]string{"--turn-enabled", "--tls-self-signed", "--turn-tls-listen", ":3478"}, "turn_tls_listen"}, // plain TURN's port
		{[]string{"--turn-host", "turn.example.com:3478"}, "turn_host"},
		{[]string{"--turn-host", "a b"}, "turn_host"},
	} {
		_, err := load(t, tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%v: err = %v, want one naming %s", tc.args, err, tc.field)
		}
	}
	for _, args := range [][]string{
		{"--turn-enabled", "--tls-self-signed", "--turn-tls-listen", ":5349", "--turn-host", "turn.example.com"},
		{"--turn-enabled", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--listen", ":443", "--turn-tls-listen", ":443"},
		{"--turn-uris", "turn:x:3478", "--turn-secret-file", "/run/secrets/turn"},
		{"--turn-host", "203.0.113.7"},
	} {
		if _, err := load(t, args, nil); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestTURNTLSShared(t *testing.T) {
	for _, tc := range []struct {
		listen, tls string
		shared      bool
	}{
		{":443", ":443", true},
		{":443", "0.0.0.0:443", true},
		{"[::]:443", ":443", true},
		{"10.0.0.1:443", "10.0.0.1:443", true},
		{"10.0.0.1:443", "10.0.0.2:443", false},
		{":443", ":5349", false},
		{":443", "", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
	} {
		c := Config{Listen: tc.listen, TurnTLSListen: tc.tls}
		if got := c.TURNTLSShared(); got != tc.shared {
			t.Errorf("listen %q turn_tls_listen %q: shared %v, want %v", tc.listen, tc.tls, got, tc.shared)
		}
	}
}
