package client

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestTURNHostsAndExpiry(t *testing.T) {
	servers := []webrtc.ICEServer{
		{URLs: []string{"stun:203.0.113.1:3478"}},
		{URLs: []string{"turn:203.0.113.2:3478?transport=udp", "turns:[2001:db8::1]:443?transport=tcp"},
			Username: "1767225600:WebRTCAppEE.r1.abc", Credential: "x"},
		{URLs: []string{"turn:turn.example.com"}, Username: "static"},
	}
	hosts := turnHosts(servers)
	want := []string{"203.0.113.2", "2001:db8::1", "turn.example.com"}
	if len(hosts) != len(want) {
		t.Fatalf("hosts %v, want %v", hosts, want)
	}
	for i := range want {
		if hosts[i] != want[i] {
			t.Fatalf("hosts %v, want %v", hosts, want)
		}
	}
	if got := credentialExpiry(servers); !got.Equal(time.Unix(1767225600, 0)) {
		t.Fatalf("expiry %v", got)
	}
	if got := credentialExpiry(servers[2:]); !got.IsZero() {
		t.Fatalf("a static username has no expiry, got %v", got)
	}
}
