package protocol

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// TestResumeEncodersPlain: with nothing to add, the encoders give exactly
// the frames the Ant Media SDKs have always got.
func TestResumeEncodersPlain(t *testing.T) {
	for _, tc := range []struct{ got, want []byte }{
		{Joined(nil, "r", JoinedInfo{}), Notification(nil, NotifyJoined, "r")},
		{Start(nil, "r", ""), Simple(nil, CmdStart, "r")},
		{Stop(nil, "r", ""), Simple(nil, CmdStop, "r")},
	} {
		if string(tc.got) != string(tc.want) {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	want := `{"command":"notification","definition":"joined","streamId":"r","resumeToken":"t","reconnectGrace":30000,"resumed":true,"peerSession":"p"}`
	if got := Joined(nil, "r", JoinedInfo{ResumeToken: "t", ReconnectGrace: 30000, Resumed: true, PeerSession: "p"}); string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// FuzzResumeEncoders checks the hand-written encoders against
// encoding/json: valid JSON carrying the same values.
func FuzzResumeEncoders(f *testing.F) {
	f.Add("r1", "tok", "sess", "timeout", int64(30000), true)
	f.Add("", "", "", "", int64(0), false)
	f.Add("q\"\\\n", "\u2028", "\xff", "ü", int64(-1), true)
	f.Fuzz(func(t *testing.T, stream, token, session, reason string, grace int64, resumed bool) {
		var j struct {
			Command, Definition, StreamID, ResumeToken, PeerSession string
			ReconnectGrace                                          *int64
			Resumed                                                 bool
		}
		b := Joined(nil, stream, JoinedInfo{ResumeToken: token, ReconnectGrace: grace, Resumed: resumed, PeerSession: session})
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if j.Command != CmdNotification || j.Definition != NotifyJoined || j.Resumed != resumed ||
			(token != "") != (j.ReconnectGrace != nil) || (j.ReconnectGrace != nil && *j.ReconnectGrace != grace) {
			t.Fatalf("joined %s", b)
		}
		// Values are compared when they are valid UTF-8; invalid bytes
		// become U+FFFD (FuzzAppendString checks that).
		same := func(got, sent string) bool { return got == sent || !utf8.ValidString(sent) }
		var st, sp struct{ Command, StreamID, PeerSession, Reason string }
		if err := json.Unmarshal(Start(nil, stream, session), &st); err != nil || st.Command != CmdStart ||
			!same(st.StreamID, stream) || !same(st.PeerSession, session) {
			t.Fatalf("start: %+v %v", st, err)
		}
		if err := json.Unmarshal(Stop(nil, stream, reason), &sp); err != nil || sp.Command != CmdStop ||
			!same(sp.StreamID, stream) || !same(sp.Reason, reason) {
			t.Fatalf("stop: %+v %v", sp, err)
		}
		if !same(j.ResumeToken, token) || !same(j.PeerSession, session) || !same(j.StreamID, stream) {
			t.Fatalf("joined %s", b)
		}
		var n struct {
			Definition     string
			ReconnectGrace int64
		}
		if err := json.Unmarshal(PeerReconnecting(nil, stream, grace), &n); err != nil || n.ReconnectGrace != grace || n.Definition != NotifyPeerReconnecting {
			t.Fatalf("peerReconnecting: %+v %v", n, err)
		}
		if err := json.Unmarshal(PeerReconnected(nil, stream), &n); err != nil || n.Definition != NotifyPeerReconnected {
			t.Fatalf("peerReconnected: %+v %v", n, err)
		}
	})
}
