package bench

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// kind is what a server message means to a scenario.
type kind int

const (
	kOther kind = iota
	kJoined
	kStart
	kStop
	kLeaved
	kConfig
	kCandidate
	kOpen
	kPaired
	kError
)

// dialect speaks one server's protocol: duet's (Ant Media's), the PeerJS
// server's, or the bare relay's.
type dialect interface {
	// socketURL is the WebSocket URL for the side (0 or 1) of a pair whose
	// sockets are named self and other.
	socketURL(base, self, other string) (string, error)
	// greeted reports whether the server sends a message on connect that
	// must arrive before the socket is usable (PeerJS's OPEN).
	greeted() kind
	// rooms reports whether peers join and leave rooms (duet) rather than
	// being addressed by socket (PeerJS) or paired at connect (bare).
	rooms() bool
	appendJoin(dst []byte, room string) []byte
	appendLeave(dst []byte, p *peer) []byte
	// appendConfig appends an offer or answer for the partner.
	appendConfig(dst []byte, p *peer, typ, sdp string) []byte
	// appendCandidate appends an ICE candidate for the partner; tail ends
	// the candidate line (it carries the send time in relay runs).
	appendCandidate(dst []byte, p *peer, seq int, tail []byte) []byte
	classify(msg []byte) kind
}

// peer is one side of a pair as a dialect addresses it.
type peer struct {
	c           *conn
	self, other string // socket names (PeerJS ids)
	room        string // the room (duet) for the current call
}

func dialectFor(name string) (dialect, error) {
	switch name {
	case "duet", "antmedia":
		return duetDialect{}, nil
	case "peerjs":
		return peerjsDialect{key: "peerjs"}, nil
	case "bare":
		return bareDialect{}, nil
	}
	return nil, fmt.Errorf("bench: unknown target protocol %q (duet, peerjs or bare)", name)
}

func head(msg []byte) []byte {
	if len(msg) > 96 {
		return msg[:96]
	}
	return msg
}

// candidateLine is a realistic host candidate; seq varies the port.
func appendCandidateLine(dst []byte, seq int, tail []byte) []byte {
	dst = append(dst, "candidate:1467250027 1 udp 2122260223 192.168.1.23 "...)
	dst = strconv.AppendInt(dst, int64(50000+seq%10000), 10)
	dst = append(dst, " typ host generation 0 ufrag sT4e network-id 1 network-cost 10"...)
	return append(dst, tail...)
}

type duetDialect struct{}

func (duetDialect) socketURL(base, _, _ string) (string, error) { return base, nil }
func (duetDialect) greeted() kind                               { return kOther }
func (duetDialect) rooms() bool                                 { return true }

func (duetDialect) appendJoin(dst []byte, room string) []byte {
	dst = append(dst, `{"command":"join","streamId":"`...)
	dst = append(dst, room...)
	return append(dst, `","mode":"play"}`...)
}

func (duetDialect) appendLeave(dst []byte, p *peer) []byte {
	dst = append(dst, `{"command":"leave","streamId":"`...)
	dst = append(dst, p.room...)
	return append(dst, `"}`...)
}

func (duetDialect) appendConfig(dst []byte, p *peer, typ, sdp string) []byte {
	dst = append(dst, `{"command":"takeConfiguration","streamId":"`...)
	dst = append(dst, p.room...)
	dst = append(dst, `","type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","sdp":"`...)
	dst = append(dst, sdp...) // already JSON-escaped
	return append(dst, `"}`...)
}

func (duetDialect) appendCandidate(dst []byte, p *peer, seq int, tail []byte) []byte {
	dst = append(dst, `{"command":"takeCandidate","streamId":"`...)
	dst = append(dst, p.room...)
	dst = append(dst, `","label":0,"id":"0","candidate":"`...)
	dst = appendCandidateLine(dst, seq, tail)
	return append(dst, `"}`...)
}

func (duetDialect) classify(msg []byte) kind {
	h := head(msg)
	switch {
	case bytes.Contains(h, []byte(`"command":"takeCandidate"`)):
		return kCandidate
	case bytes.Contains(h, []byte(`"command":"takeConfiguration"`)):
		return kConfig
	case bytes.Contains(h, []byte(`"command":"start"`)):
		return kStart
	case bytes.Contains(h, []byte(`"command":"stop"`)):
		return kStop
	case bytes.Contains(h, []byte(`"definition":"joined"`)):
		return kJoined
	case bytes.Contains(h, []byte(`"definition":"leaved"`)):
		return kLeaved
	case bytes.Contains(h, []byte(`"command":"error"`)):
		return kError
	}
	return kOther
}

// peerjsDialect speaks the PeerJS server's protocol (npm package "peer"):
// a socket registers an id at connect and is greeted with OPEN; OFFER,
// ANSWER, CANDIDATE and LEAVE go to the id in "dst". It has no rooms: a call
// is set up between two registered ids.
type peerjsDialect struct{ key string }

func (d peerjsDialect) socketURL(base, self, _ string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(u.Path, "peerjs") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/peerjs"
	}
	q := u.Query()
	q.Set("key", d.key)
	q.Set("id", self)
	q.Set("token", "bench")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (peerjsDialect) greeted() kind                          { return kOpen }
func (peerjsDialect) rooms() bool                            { return false }
func (peerjsDialect) appendJoin(dst []byte, _ string) []byte { return dst }

func (peerjsDialect) appendLeave(dst []byte, p *peer) []byte {
	dst = append(dst, `{"type":"LEAVE","dst":"`...)
	dst = append(dst, p.other...)
	return append(dst, `"}`...)
}

func (peerjsDialect) appendConfig(dst []byte, p *peer, typ, sdp string) []byte {
	t := "OFFER"
	if typ == "answer" {
		t = "ANSWER"
	}
	dst = append(dst, `{"type":"`...)
	dst = append(dst, t...)
	dst = append(dst, `","dst":"`...)
	dst = append(dst, p.other...)
	dst = append(dst, `","payload":{"sdp":{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","sdp":"`...)
	dst = append(dst, sdp...)
	return append(dst, `"},"type":"media","connectionId":"mc_bench","browser":"chrome"}}`...)
}

func (peerjsDialect) appendCandidate(dst []byte, p *peer, seq int, tail []byte) []byte {
	dst = append(dst, `{"type":"CANDIDATE","dst":"`...)
	dst = append(dst, p.other...)
	dst = append(dst, `","payload":{"candidate":{"candidate":"`...)
	dst = appendCandidateLine(dst, seq, tail)
	return append(dst, `","sdpMLineIndex":0,"sdpMid":"0"},"type":"media","connectionId":"mc_bench"}}`...)
}

func (peerjsDialect) classify(msg []byte) kind {
	h := head(msg)
	switch {
	case bytes.Contains(h, []byte(`"type":"CANDIDATE"`)):
		return kCandidate
	case bytes.Contains(h, []byte(`"type":"OFFER"`)), bytes.Contains(h, []byte(`"type":"ANSWER"`)):
		return kConfig
	case bytes.Contains(h, []byte(`"type":"OPEN"`)):
		return kOpen
	case bytes.Contains(h, []byte(`"type":"LEAVE"`)):
		return kLeaved
	case bytes.Contains(h, []byte(`"type":"ERROR"`)), bytes.Contains(h, []byte(`"type":"ID-TAKEN"`)),
		bytes.Contains(h, []byte(`"type":"EXPIRE"`)):
		return kError
	}
	return kOther
}

// bareDialect speaks to the bare relay (package barerelay): two sockets that
// connect with the same room are paired and told {"paired":true}; after
// that every message is forwarded as is. Messages are duet's JSON.
type bareDialect struct{ duetDialect }

func (bareDialect) socketURL(base, self, _ string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	// Both sides of a pair share the name up to the side suffix.
	q.Set("room", strings.TrimSuffix(strings.TrimSuffix(self, "-a"), "-b"))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (bareDialect) greeted() kind                          { return kPaired }
func (bareDialect) rooms() bool                            { return false }
func (bareDialect) appendJoin(dst []byte, _ string) []byte { return dst }

func (d bareDialect) classify(msg []byte) kind {
	h := head(msg)
	switch {
	case bytes.Equal(msg, []byte(`{"paired":true}`)):
		return kPaired
	case bytes.Contains(h, []byte(`"command":"leave"`)):
		return kLeaved
	}
	return d.duetDialect.classify(msg)
}
