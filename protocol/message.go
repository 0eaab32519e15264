// Package protocol holds duet's wire format: the Ant Media peer-to-peer
// signaling messages, their decoding and validation, and their encoding.
// It does no I/O.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Commands, as spelled on the wire.
const (
	CmdJoin              = "join"
	CmdLeave             = "leave"
	CmdStop              = "stop"
	CmdTakeConfiguration = "takeConfiguration"
	CmdTakeCandidate     = "takeCandidate"
	CmdPeerMessage       = "peerMessageCommand"
	CmdPing              = "ping"
	CmdGetIceServer      = "getIceServerConfig"

	CmdNotification    = "notification"
	CmdStart           = "start"
	CmdPong            = "pong"
	CmdIceServerConfig = "iceServerConfig"
	CmdError           = "error"
)

// Notification definitions.
const (
	NotifyJoined         = "joined"
	NotifyLeaved         = "leaved"
	NotifyServerWillStop = "server_will_stop"
)

// MaxStreamIDLen is the longest accepted streamId.
const MaxStreamIDLen = 128

// Message is one decoded client message. Only the fields duet reads are
// kept; unknown fields are ignored.
type Message struct {
	Command    string          `json:"command"`
	StreamID   string          `json:"streamId"`
	Type       string          `json:"type"`
	SDP        string          `json:"sdp"`
	Label      Label           `json:"label"`
	ID         FlexString      `json:"id"`
	Candidate  string          `json:"candidate"`
	Definition string          `json:"definition"`
	Data       json.RawMessage `json:"data"`
	Token      string          `json:"token"`
	Mode       string          `json:"mode"`

	// duet's resume additions to join (docs/protocol.md); the Ant Media
	// SDKs never send them.
	Session     string `json:"session"`     // the client's call-session id; see ValidSession
	Resumable   bool   `json:"resumable"`   // hold my seat if my socket is lost
	ResumeToken string `json:"resumeToken"` // take back the seat a previous socket held
	// Restart asks that a repeated join of a paired room start the call
	// over (docs/protocol.md, Rooms): a duet SDK that gave its peer
	// connection up sends it. A join without session always restarts.
	Restart bool `json:"restart"`

	// duet's mesh additions (docs/protocol.md, Mesh rooms). MaxPeers on a
	// join says the client speaks mesh, and the room's limit it asks for
	// when it is the first joiner (0: absent). Peer on a relayed message
	// names the member it is for.
	MaxPeers int    `json:"maxPeers"`
	Peer     string `json:"peer"`
}

// Label is an m-line index. SDKs send it as a number or a numeric string.
type Label struct {
	Value int
	Set   bool
}

// UnmarshalJSON accepts a number, a numeric string or null.
func (l *Label) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*l = Label{}
		return nil
	}
	s := b
	if len(b) >= 2 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s = []byte(str)
	}
	n, err := strconv.Atoi(string(s))
	if err != nil || n < 0 || n > 1<<16 {
		return &json.UnmarshalTypeError{Value: "label " + string(b), Type: labelType}
	}
	*l = Label{Value: n, Set: true}
	return nil
}

// FlexString is a string field that some SDKs send as a number.
type FlexString string

// UnmarshalJSON accepts a string, a number or null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*f = FlexString(b)
	default:
		return &json.UnmarshalTypeError{Value: string(b), Type: flexType}
	}
	return nil
}

var (
	labelType = reflectTypeOf[int]()
	flexType  = reflectTypeOf[string]()
)

// Decode parses one frame. It returns ErrInvalidJSON when the frame is not a
// JSON object, ErrInvalidParameter (wrapped in a *FieldError) when a known
// field has the wrong type, and ErrMissingParameter when command is absent.
func Decode(frame []byte) (*Message, error) {
	m := new(Message)
	if err := DecodeInto(frame, m); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeBorrowed is DecodeInto without copying: the strings of m may point
// into frame, so they are valid only while frame is unchanged. Use it where
// the message is consumed before frame is reused (relaying), and call
// m.Own before keeping any of it.
func DecodeBorrowed(frame []byte, m *Message) error { return decodeInto(frame, m, true) }

// Own copies m's strings, so that m no longer refers to the frame it was
// decoded from with DecodeBorrowed.
func (m *Message) Own() {
	for _, s := range []*string{&m.Command, &m.StreamID, &m.Type, &m.SDP, &m.Candidate, &m.Definition, &m.Token, &m.Mode, &m.Session, &m.ResumeToken, &m.Peer} {
		*s = strings.Clone(*s)
	}
	m.ID = FlexString(strings.Clone(string(m.ID)))
	if m.Data != nil {
		m.Data = bytes.Clone(m.Data)
	}
}

// DecodeInto is Decode into a Message the caller owns (and may reuse: it
// is reset first), so that decoding a message allocates only its strings.
func DecodeInto(frame []byte, m *Message) error { return decodeInto(frame, m, false) }

func decodeInto(frame []byte, m *Message, borrow bool) error {
	*m = Message{}
	if !decodeFastWith(parser{b: frame, borrow: borrow}, m) {
		s, err := decodeSlow(frame)
		if err != nil {
			return err
		}
		*m = *s
		return nil
	}
	if m.Command == "" {
		return &FieldError{Field: "command", Err: ErrMissingParameter}
	}
	return nil
}

// decodeSlow decodes with encoding/json; it is the reference behaviour.
func decodeSlow(frame []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(frame, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, &FieldError{Field: te.Field, Err: ErrInvalidParameter}
		}
		return nil, ErrInvalidJSON
	}
	if m.Command == "" {
		return nil, &FieldError{Field: "command", Err: ErrMissingParameter}
	}
	return &m, nil
}

// FieldError names the field a protocol error is about.
type FieldError struct {
	Field string
	Err   Error
}

func (e *FieldError) Error() string { return string(e.Err) + ": " + e.Field }
func (e *FieldError) Unwrap() error { return e.Err }

// ValidateStreamID checks a room name: present, at most MaxStreamIDLen
// bytes of [A-Za-z0-9_.-].
func ValidateStreamID(id string) error {
	if id == "" {
		return ErrNoStreamName
	}
	if len(id) > MaxStreamIDLen {
		return ErrInvalidStreamName
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return ErrInvalidStreamName
		}
	}
	return nil
}

// ValidApp reports whether an application name is acceptable: 1 to 64
// bytes of [A-Za-z0-9_-].
func ValidApp(app string) bool { return validName(app) }

// ValidSession reports whether a join's session id is acceptable: 1 to 64
// bytes of [A-Za-z0-9_-]. An invalid one is treated as absent.
func ValidSession(s string) bool { return validName(s) }

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
