package protocol

import "testing"

var candidateFrame = []byte(`{"command":"takeCandidate","streamId":"room-42","label":0,"id":"0","candidate":"candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sK3a network-cost 999"}`)

func BenchmarkDecodeCandidate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(candidateFrame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRelayCandidate(b *testing.B) {
	m, _ := Decode(candidateFrame)
	ValidateRelay(m)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = Relay(buf[:0], m)
	}
}
