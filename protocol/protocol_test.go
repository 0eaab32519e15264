package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		check   func(*Message) bool
	}{
		{`{"command":"join","streamId":"r1","multiPeer":false,"mode":"both","extra":{"a":1}}`, nil,
			func(m *Message) bool { return m.Command == CmdJoin && m.StreamID == "r1" && m.Mode == "both" }},
		{`{"command":"takeCandidate","streamId":"r","label":1,"id":"0","candidate":"c"}`, nil,
			func(m *Message) bool { return m.Label == Label{1, true} && m.ID == "0" }},
		{`{"command":"takeCandidate","streamId":"r","label":"2","id":3,"candidate":"c"}`, nil,
			func(m *Message) bool { return m.Label == Label{2, true} && m.ID == "3" }},
		{`{"command":"takeCandidate","streamId":"r","label":null,"id":null,"candidate":"c"}`, nil,
			func(m *Message) bool { return !m.Label.Set && m.ID == "" }},
		{`{"command":"peerMessageCommand","streamId":"r","definition":"d","data":{"x":[1,2]}}`, nil,
			func(m *Message) bool { return string(m.Data) == `{"x":[1,2]}` }},
		{`{"command":"join","streamId":"r","session":"abc","resumable":true,"resumeToken":"t0k"}`, nil,
			func(m *Message) bool { return m.Session == "abc" && m.Resumable && m.ResumeToken == "t0k" }},
		{`{"command":"join","streamId":"r","resumable":false}`, nil,
			func(m *Message) bool { return !m.Resumable && m.Session == "" && m.ResumeToken == "" }},
		{`{"command":"join","streamId":"r","resumable":null,"session":null}`, nil,
			func(m *Message) bool { return !m.Resumable && m.Session == "" }},
		{`{"command":"join","streamId":"r","resumable":"yes"}`, ErrInvalidParameter, nil},
		{`{"command":"join","streamId":"r","session":"abc","restart":true}`, nil,
			func(m *Message) bool { return m.Restart && m.Session == "abc" && !m.Resumable }},
		{`{"command":"join","streamId":"r","restart":false,"resumable":true}`, nil,
			func(m *Message) bool { return !m.Restart && m.Resumable }},
		{`{"command":"join","streamId":"r","restart":null}`, nil, func(m *Message) bool { return !m.Restart }},
		{`{"command":"join","streamId":"r","restart":"true"}`, ErrInvalidParameter, nil},
		{`{"command":"join","streamId":"r","restart":1}`, ErrInvalidParameter, nil},
		{`{"command":"join","streamId":"r","session":42}`, ErrInvalidParameter, nil},
		{`{"command":"join","streamId":"r","resumeToken":{}}`, ErrInvalidParameter, nil},
		{`not json`, ErrInvalidJSON, nil},
		{`[1,2]`, ErrInvalidJSON, nil},
		{`{"command":"join"`, ErrInvalidJSON, nil},
		{``, ErrInvalidJSON, nil},
		{`{}`, ErrMissingParameter, nil},
		{`{"command":5}`, ErrInvalidParameter, nil},
		{`{"command":"join","streamId":12}`, ErrInvalidParameter, nil},
		{`{"command":"takeCandidate","label":"x"}`, ErrInvalidParameter, nil},
		{`{"command":"takeCandidate","label":-1}`, ErrInvalidParameter, nil},
		{`{"command":"takeCandidate","id":{}}`, ErrInvalidParameter, nil},
	}
	for _, tt := range tests {
		m, err := Decode([]byte(tt.in))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Decode(%s) err = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !tt.check(m) {
			t.Errorf("Decode(%s) = %+v, %v", tt.in, m, err)
		}
	}
}

func TestValidateStreamID(t *testing.T) {
	for id, want := range map[string]error{
		"":                       ErrNoStreamName,
		"room-1_a.b":             nil,
		"has space":              ErrInvalidStreamName,
		"slash/":                 ErrInvalidStreamName,
		"ünï":                    ErrInvalidStreamName,
		strings.Repeat("a", 128): nil,
		strings.Repeat("a", 129): ErrInvalidStreamName,
		"<script>":               ErrInvalidStreamName,
	} {
		if err := ValidateStreamID(id); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("ValidateStreamID(%q) = %v, want %v", id, err, want)
		}
	}
}

func TestRelayEncodingHasEveryField(t *testing.T) {
	m, _ := Decode([]byte(`{"command":"takeCandidate","streamId":"r","label":"1","candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host"}`))
	if err := ValidateRelay(m); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(Relay(nil, m), &out); err != nil {
		t.Fatal(err)
	}
	if out["label"] != float64(1) || out["id"] != "1" || out["command"] != "takeCandidate" || out["streamId"] != "r" {
		t.Fatalf("relayed candidate = %v", out)
	}
	m, _ = Decode([]byte(`{"command":"takeConfiguration","streamId":"r","type":"offer","sdp":"v=0\r\n"}`))
	if err := ValidateRelay(m); err != nil {
		t.Fatal(err)
	}
	out = nil
	json.Unmarshal(Relay(nil, m), &out)
	if idm, ok := out["idMapping"].(map[string]any); !ok || len(idm) != 0 || out["sdp"] != "v=0\r\n" || out["type"] != "offer" {
		t.Fatalf("relayed offer = %v", out)
	}
	for _, bad := range []string{
		`{"command":"takeConfiguration","streamId":"r","type":"pranswer","sdp":"x"}`,
		`{"command":"takeConfiguration","streamId":"r","type":"offer"}`,
		`{"command":"takeCandidate","streamId":"r"}`,
	} {
		m, _ := Decode([]byte(bad))
		if err := ValidateRelay(m); !errors.Is(err, ErrMissingParameter) {
			t.Errorf("ValidateRelay(%s) = %v, want missingParameter", bad, err)
		}
	}
}

func TestIceServerConfigMsg(t *testing.T) {
	var out map[string]any
	if err := json.Unmarshal(IceServerConfigMsg(nil, ICEServerConfig{}), &out); err != nil {
		t.Fatal(err)
	}
	if out["stunServerUri"] != "" || out["turnServerUsername"] != "" || out["turnServerCredential"] != "" || out["iceServers"] != nil {
		t.Fatalf("empty config = %v", out)
	}
	c := ICEServerConfig{StunServerURI: "turn:h:3478", TurnServerUsername: "u", TurnServerCredential: "p",
		ICEServers: []ICEServer{{URLs: []string{"stun:h:3478"}}, {URLs: []string{"turn:h:3478", "turn:h:3478?transport=tcp"}, Username: "u", Credential: "p"}}}
	var full struct {
		StunServerURI string `json:"stunServerUri"`
		ICEServers    []struct {
			URLs       []string `json:"urls"`
			Username   string   `json:"username"`
			Credential string   `json:"credential"`
		} `json:"iceServers"`
	}
	if err := json.Unmarshal(IceServerConfigMsg(nil, c), &full); err != nil {
		t.Fatal(err)
	}
	if full.StunServerURI != "turn:h:3478" || len(full.ICEServers) != 2 || full.ICEServers[1].URLs[1] != "turn:h:3478?transport=tcp" || full.ICEServers[1].Credential != "p" {
		t.Fatalf("full config = %+v", full)
	}
}

// FuzzAppendString checks the hand-written string encoder against
// encoding/json: the output must parse back to the same text (with invalid
// UTF-8 replaced).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\s", "\x00\x1f\n\r\t", "ü€😀", "\xff\xfe", "\u2028\u2029", "a=fmtp:111 minptime=10;useinbandfec=1\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && utf8.ValidString(s) {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
		if !utf8.Valid(b) {
			t.Fatalf("output not UTF-8: %q", b)
		}
	})
}

// FuzzDecode feeds arbitrary frames to the decoder and, for any frame that
// decodes into a valid relay, checks the re-encoded message is valid JSON
// carrying the same values.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"command":"join","streamId":"r1"}`,
		`{"command":"takeCandidate","streamId":"r","label":"0","id":"audio","candidate":"candidate:1"}`,
		`{"command":"takeConfiguration","streamId":"r","type":"answer","sdp":"v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n"}`,
		`{"command":"peerMessageCommand","streamId":"r","definition":"x","data":"{\"a\":1}"}`,
		`{"command":"peerMessageCommand","streamId":"r","data":[1,{"b":null}]}`,
		`{"command":1}`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(frame)
		if err != nil {
			var fe *FieldError
			if !errors.Is(err, ErrInvalidJSON) && !errors.As(err, &fe) {
				t.Fatalf("unexpected error type %T %v", err, err)
			}
			return
		}
		if ValidateStreamID(m.StreamID) != nil || ValidateRelay(m) != nil {
			return
		}
		out := Relay(nil, m)
		var back map[string]any
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("relay of %q is not JSON: %s: %v", frame, out, err)
		}
		if back["command"] != m.Command || back["streamId"] != m.StreamID {
			t.Fatalf("relay changed command/streamId: %s", out)
		}
		if m.Command == CmdTakeCandidate {
			if _, ok := back["label"].(float64); !ok {
				t.Fatalf("label not a number: %s", out)
			}
			if _, ok := back["id"].(string); !ok {
				t.Fatalf("id not a string: %s", out)
			}
		}
	})
}

// FuzzDecodeFast is a differential test: whenever the fast decoder accepts
// a frame, encoding/json must decode it to the same message.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"command":"takeCandidate","streamId":"r","label":0,"id":"0","candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host"}`,
		`{"command":"takeConfiguration","streamId":"r","type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n\u00fc\ud83d\ude00"}`,
		`{"command":"join","streamId":"r","multiPeer":false,"mode":"both","trackList":[],"x":{"y":[1,-2.5e3,null,true]}}`,
		`{"command":"peerMessageCommand","streamId":"r","definition":"d","data":"{\"a\":1}"}`,
		` { "Command" : "join" } `, `{"command":"a","command":"b"}`, `{"label":65537}`, `{"id":"\ud800"}`,
		`{"streamId":"a\/b"}`, `{}`, `{"a":1,}`, `{"command":"x"}x`,
		`{"command":"join","streamId":"r","session":"s-1","resumable":true,"resumeToken":"AbC_-1"}`,
		`{"command":"join","resumable":false,"resumable":true}`, `{"resumable":null}`, `{"resumable":"true"}`,
		`{"resumable":1}`, `{"Resumable":true}`, `{"RESUMETOKEN":"x"}`, `{"session":7}`,
		`{"command":"join","streamId":"r","session":"s","restart":true}`, `{"restart":false,"restart":true}`,
		`{"restart":null}`, `{"restart":"yes"}`, `{"Restart":true}`, `{"restart":0}`,
		`{"command":"join","streamId":"r","maxPeers":4}`, `{"maxPeers":-1}`, `{"maxPeers":4.5}`, `{"maxPeers":"4"}`,
		`{"MaxPeers":4}`, `{"maxPeers":null}`, `{"command":"takeCandidate","peer":"12","candidate":"c"}`, `{"peer":3}`, `{"PEER":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var fast Message
		ok := decodeFast(frame, &fast)
		if !ok {
			return
		}
		slow, err := decodeSlow(frame)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && fe.Field == "command" && fast.Command == "" {
				return // both see a missing command
			}
			t.Fatalf("fast path accepted %q, encoding/json says %v", frame, err)
		}
		if fast.Command != slow.Command || fast.StreamID != slow.StreamID || fast.Type != slow.Type ||
			fast.SDP != slow.SDP || fast.Label != slow.Label || fast.ID != slow.ID || fast.Candidate != slow.Candidate ||
			fast.Definition != slow.Definition || string(fast.Data) != string(slow.Data) || fast.Token != slow.Token || fast.Mode != slow.Mode ||
			fast.Session != slow.Session || fast.Resumable != slow.Resumable || fast.ResumeToken != slow.ResumeToken ||
			fast.Restart != slow.Restart || fast.MaxPeers != slow.MaxPeers || fast.Peer != slow.Peer {
			t.Fatalf("decoders disagree on %q:\nfast %+v\nslow %+v", frame, fast, *slow)
		}
	})
}
