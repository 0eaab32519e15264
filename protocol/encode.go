package protocol

import (
	"strconv"
	"unicode/utf8"
)

// The encoders below append server messages to dst. They are hand-written
// because they run once per relayed message; the fuzz tests check them
// against encoding/json.

// Notification encodes {"command":"notification","definition":def,"streamId":id}.
// An empty streamID is left out.
func Notification(dst []byte, def, streamID string) []byte {
	dst = append(dst, `{"command":"notification","definition":`...)
	dst = AppendString(dst, def)
	if streamID != "" {
		dst = append(dst, `,"streamId":`...)
		dst = AppendString(dst, streamID)
	}
	return append(dst, '}')
}

// Simple encodes {"command":cmd,"streamId":id}, used for start and stop.
func Simple(dst []byte, cmd, streamID string) []byte {
	dst = append(dst, `{"command":`...)
	dst = AppendString(dst, cmd)
	dst = append(dst, `,"streamId":`...)
	dst = AppendString(dst, streamID)
	return append(dst, '}')
}

// Pong encodes the answer to ping.
func Pong(dst []byte) []byte { return append(dst, `{"command":"pong"}`...) }

// ErrorMsg encodes an error; an empty streamID is left out.
func ErrorMsg(dst []byte, def Error, streamID string) []byte {
	dst = append(dst, `{"command":"error","definition":`...)
	dst = AppendString(dst, string(def))
	if streamID != "" {
		dst = append(dst, `,"streamId":`...)
		dst = AppendString(dst, streamID)
	}
	return append(dst, '}')
}

// ICEServerConfig is the answer to getIceServerConfig. The Ant Media SDKs read
// the first three fields; duet's own SDKs also read ICEServers.
type ICEServerConfig struct {
	StunServerURI        string
	TurnServerUsername   string
	TurnServerCredential string
	ICEServers           []ICEServer
}

// ICEServer is one entry of an RTCConfiguration's iceServers.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// IceServerConfigMsg encodes an iceServerConfig answer. Every field is always
// present; iceServers is added only when there are any.
func IceServerConfigMsg(dst []byte, c ICEServerConfig) []byte {
	dst = append(dst, `{"command":"iceServerConfig","stunServerUri":`...)
	dst = AppendString(dst, c.StunServerURI)
	dst = append(dst, `,"turnServerUsername":`...)
	dst = AppendString(dst, c.TurnServerUsername)
	dst = append(dst, `,"turnServerCredential":`...)
	dst = AppendString(dst, c.TurnServerCredential)
	if len(c.ICEServers) > 0 {
		dst = append(dst, `,"iceServers":[`...)
		for i, s := range c.ICEServers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"urls":[`...)
			for j, u := range s.URLs {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = AppendString(dst, u)
			}
			dst = append(dst, ']')
			if s.Username != "" || s.Credential != "" {
				dst = append(dst, `,"username":`...)
				dst = AppendString(dst, s.Username)
				dst = append(dst, `,"credential":`...)
				dst = AppendString(dst, s.Credential)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// Relay encodes the message a peer sends to its partner: takeConfiguration,
// takeCandidate or peerMessageCommand, with every field the SDKs expect
// always present. It assumes m passed ValidateRelay.
func Relay(dst []byte, m *Message) []byte {
	dst = append(dst, `{"command":`...)
	dst = AppendString(dst, m.Command)
	dst = append(dst, `,"streamId":`...)
	dst = AppendString(dst, m.StreamID)
	switch m.Command {
	case CmdTakeConfiguration:
		dst = append(dst, `,"type":`...)
		dst = AppendString(dst, m.Type)
		dst = append(dst, `,"sdp":`...)
		dst = AppendString(dst, m.SDP)
		dst = append(dst, `,"idMapping":{}`...)
	case CmdTakeCandidate:
		dst = append(dst, `,"label":`...)
		dst = strconv.AppendInt(dst, int64(m.Label.Value), 10)
		dst = append(dst, `,"id":`...)
		dst = AppendString(dst, string(m.ID))
		dst = append(dst, `,"candidate":`...)
		dst = AppendString(dst, m.Candidate)
	case CmdPeerMessage:
		dst = append(dst, `,"definition":`...)
		dst = AppendString(dst, m.Definition)
		dst = append(dst, `,"data":`...)
		if len(m.Data) == 0 {
			dst = append(dst, `""`...)
		} else {
			dst = append(dst, m.Data...)
		}
	}
	return append(dst, '}')
}

// ValidateRelay checks the fields of a relayed message.
func ValidateRelay(m *Message) error {
	switch m.Command {
	case CmdTakeConfiguration:
		if m.Type != "offer" && m.Type != "answer" {
			return &FieldError{Field: "type", Err: ErrMissingParameter}
		}
		if m.SDP == "" {
			return &FieldError{Field: "sdp", Err: ErrMissingParameter}
		}
	case CmdTakeCandidate:
		if m.Candidate == "" && !m.Label.Set && m.ID == "" {
			return &FieldError{Field: "candidate", Err: ErrMissingParameter}
		}
		if m.ID == "" && m.Label.Set {
			// Browsers always send the mid; older SDKs only the index. The
			// receiving iOS SDK needs a string, so derive one.
			m.ID = FlexString(strconv.Itoa(m.Label.Value))
		}
	case CmdPeerMessage:
	default:
		return ErrUnsupportedCommand
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, and
// U+2028/U+2029 are escaped so the output is also valid JavaScript.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = plainPrefix(s, i); i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
