package protocol

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

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

// configurationFrame is an offer as a browser sends it: about 3 KB of SDP
// whose lines end in escaped line breaks.
var configurationFrame = func() []byte {
	var sdp strings.Builder
	sdp.WriteString("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n")
	for m := range 3 {
		fmt.Fprintf(&sdp, "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\n", m)
		sdp.WriteString("a=ice-ufrag:sK3a\r\na=ice-pwd:Zm9vYmFyYmF6cXV4cXV1eHh5enp5\r\na=ice-options:trickle\r\n")
		sdp.WriteString("a=fingerprint:sha-256 6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:2C:D3:B5:3A:DE:AF:BD:8E\r\n")
		sdp.WriteString("a=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n")
		sdp.WriteString("a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=ssrc-group:FID 1504516823 2298612447\r\na=ssrc:1504516823 cname:Q2Nzb3VyY2VjbmFtZQ==\r\n")
	}
	b, _ := json.Marshal(map[string]any{"command": "takeConfiguration", "streamId": "room-42", "type": "offer", "sdp": sdp.String()})
	return b
}()

func BenchmarkDecodeConfiguration(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(configurationFrame)))
	for b.Loop() {
		if _, err := Decode(configurationFrame); err != nil {
			b.Fatal(err)
		}
	}
}
