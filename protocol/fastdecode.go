package protocol

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// decodeFast parses the usual shape of a client message, a flat object of
// strings and small numbers, without reflection. It gives up (ok false) on
// anything unusual, and the caller then decodes with encoding/json, so the
// two always agree; FuzzDecodeFast checks that.
func decodeFast(b []byte, m *Message) bool {
	return decodeFastWith(parser{b: b}, m)
}

func decodeFastWith(p parser, m *Message) bool {
	b := p.b
	p.ws()
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		return p.end()
	}
	for {
		p.ws()
		kb, ok := p.rawKey()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		var dst *string
		intern := false
		switch string(kb) { // compiled without allocating
		case "command", "type", "mode":
			intern = true
		}
		switch string(kb) {
		case "command":
			dst = &m.Command
		case "streamId":
			dst = &m.StreamID
		case "type":
			dst = &m.Type
		case "sdp":
			dst = &m.SDP
		case "candidate":
			dst = &m.Candidate
		case "definition":
			dst = &m.Definition
		case "token":
			dst = &m.Token
		case "mode":
			dst = &m.Mode
		case "session":
			dst = &m.Session
		case "resumeToken":
			dst = &m.ResumeToken
		case "peer":
			dst = &m.Peer
		case "maxPeers":
			n, ok := p.smallInt()
			if !ok {
				return false
			}
			m.MaxPeers = n
		case "resumable", "restart":
			v, ok := p.boolean()
			if !ok {
				return false
			}
			if string(kb) == "restart" {
				m.Restart = v
			} else {
				m.Resumable = v
			}
		case "id":
			s, ok := p.str()
			if !ok {
				return false
			}
			m.ID = FlexString(s)
		case "label":
			n, ok := p.smallInt()
			if !ok {
				return false
			}
			m.Label = Label{Value: n, Set: true}
		case "data":
			start := p.i
			if _, ok := p.str(); !ok {
				return false
			}
			m.Data = append([]byte(nil), b[start:p.i]...)
		default:
			if foldsToKnown(kb) || !p.skip(0) {
				return false
			}
		}
		if dst != nil {
			var s string
			var ok bool
			if intern {
				s, ok = p.internStr()
			} else {
				s, ok = p.str()
			}
			if !ok {
				return false
			}
			*dst = s
		}
		p.ws()
		if p.eat('}') {
			return p.end()
		}
		if !p.eat(',') {
			return false
		}
	}
}

// foldsToKnown reports whether key would match a field case-insensitively,
// as encoding/json matches; such keys go to the slow path.
func foldsToKnown(key []byte) bool {
	for _, k := range [...]string{"command", "streamId", "type", "sdp", "label", "id", "candidate", "definition", "data", "token", "mode", "session", "resumable", "resumeToken", "restart", "maxPeers", "peer"} {
		if len(k) == len(key) && equalFoldASCII(k, key) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a string, b []byte) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x|0x20 != y|0x20 || (x|0x20) < 'a' || (x|0x20) > 'z' {
			if x != y {
				return false
			}
		}
	}
	return true
}

type parser struct {
	b      []byte
	i      int
	borrow bool // strings without escapes point into b instead of copying it
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// rawKey reads an object key made of plain ASCII without escapes.
func (p *parser) rawKey() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			k := p.b[start:p.i]
			p.i++
			return k, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// commonValues are the values of command, type and mode that every
// message carries; they are returned without allocating.
var commonValues = [...]string{CmdJoin, CmdLeave, CmdStop, CmdTakeConfiguration, CmdTakeCandidate,
	CmdPeerMessage, CmdPing, CmdGetIceServer, "offer", "answer", "play", "both"}

// internStr is str for fields whose values repeat.
func (p *parser) internStr() (string, bool) {
	if p.i < len(p.b) && p.b[p.i] == '"' {
		for _, v := range commonValues {
			end := p.i + 1 + len(v)
			if end < len(p.b) && p.b[end] == '"' && string(p.b[p.i+1:end]) == v {
				p.i = end + 1
				return v, true
			}
		}
	}
	return p.str()
}

// str reads a JSON string with valid UTF-8, decoding escapes.
func (p *parser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		if p.i = plainPrefix(p.b, p.i); p.i >= len(p.b) {
			break
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			var s string
			switch {
			case p.i == start:
			case p.borrow:
				s = unsafe.String(&p.b[start], p.i-start)
			default:
				s = string(p.b[start:p.i])
			}
			p.i++
			return s, true
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			p.i += size
		default:
			p.i++
		}
	}
	return "", false
}

// escaped finishes a string that has escapes; b[start:p.i] is plain.
func (p *parser) escaped(start int) (string, bool) {
	out := make([]byte, 0, len(p.b)-start)
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return "", false
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					// Only a well-formed pair is decoded here; a lone half
					// goes to encoding/json, which has its own rules for it.
					if p.i+1 >= len(p.b) || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
						return "", false
					}
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", false
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
						return "", false
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			out = append(out, p.b[p.i:p.i+size]...)
			p.i += size
		default:
			// A plain run: copied whole (SDP has long lines between its
			// escaped line breaks).
			end := plainPrefix(p.b, p.i+1)
			out = append(out, p.b[p.i:end]...)
			p.i = end
		}
	}
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}

// smallInt reads a label: a plain non-negative integer of at most 5 digits.
func (p *parser) smallInt() (int, bool) {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	digits := p.b[start:p.i]
	if len(digits) == 0 || len(digits) > 5 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	n, _ := strconv.Atoi(string(digits))
	return n, n <= 1<<16
}

// skip passes over a value of a field duet does not read: strings,
// booleans, null, simple numbers, and objects or arrays of those a few
// levels deep. Anything else gives up.
func (p *parser) skip(depth int) bool {
	if p.i >= len(p.b) || depth > 4 {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		p.i++
		p.ws()
		if p.eat(closer) {
			return true
		}
		for {
			p.ws()
			if c == '{' {
				if _, ok := p.str(); !ok {
					return false
				}
				p.ws()
				if !p.eat(':') {
					return false
				}
				p.ws()
			}
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(closer) {
				return true
			}
			if !p.eat(',') {
				return false
			}
		}
	}
	return false
}

// boolean reads true or false. null (which encoding/json treats as
// leaving the field alone) and anything else give up.
func (p *parser) boolean() (bool, bool) {
	switch {
	case p.lit("true"):
		return true, true
	case p.lit("false"):
		return false, true
	}
	return false, false
}

func (p *parser) lit(s string) bool {
	if p.i+len(s) <= len(p.b) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// number accepts JSON's number grammar.
func (p *parser) number() bool {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.eat('.') && !p.digits() {
		return false
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

func (p *parser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
