package client

import (
	"encoding/json"
	"time"

	"github.com/duet-rtc/duet/protocol"
)

// Event is something the server said, or a change of the socket. The
// concrete types are Connected, Disconnected, Joined, Leaved, Start, Stop,
// PeerReconnecting, PeerReconnected, TakeConfiguration, TakeCandidate,
// PeerMessage, ICEConfig, ServerWillStop, NetworkChanged, QualityFrame and
// *ServerError.
type Event interface {
	// EventRoom is the room the event is about; "" for events about the
	// socket, which every subscription gets.
	EventRoom() string
}

// Outgoing is a message a client relays to its partner through the server:
// TakeConfiguration, TakeCandidate or PeerMessage.
type Outgoing interface {
	Event
	wire() any
}

// Connected: a socket is open (Reconnect is false for the first one). Right
// after it the client sends getIceServerConfig and, after a reconnect, a
// join for every room it is in.
type Connected struct{ Reconnect bool }

// Disconnected: the socket was lost; Err says why. The client reconnects
// with backoff until it is closed.
type Disconnected struct{ Err error }

// Joined: the server confirmed a join. Rejoin is true when it answers the
// join the client sent again after a reconnect.
//
// The other fields are duet's resume extensions (docs/protocol.md); they
// are zero with servers that do not support them and for joins that did
// not ask (WithSession, WithResume).
type Joined struct {
	Room   string
	Rejoin bool
	// Resumed: the join took back the seat a previous socket held (its
	// resume token was still valid): the partner never saw us leave.
	Resumed bool
	// ResumeToken takes this seat back after the socket is lost; the
	// client keeps the newest one and sends it with its rejoins.
	ResumeToken string
	// ReconnectGrace is how long the server holds the seat once the
	// socket is lost.
	ReconnectGrace time.Duration
	// PeerSession is the call-session id of the partner already in the
	// room, when it sent one.
	PeerSession string

	// Mesh rooms (docs/protocol.md), for a join that sent maxPeers
	// (WithMaxPeers): MaxPeers is the room's limit (2: a room of two; 0:
	// a server without mesh rooms). In a mesh room PeerID is this
	// member's id and Peers the other members, oldest first: each of them
	// offers to this member.
	MaxPeers int
	PeerID   string
	Peers    []MeshPeer
}

// MeshPeer is another member of a mesh room.
type MeshPeer struct {
	ID           string `json:"id"`
	Session      string `json:"session"`
	Reconnecting bool   `json:"reconnecting"`
}

// Leaved: the server confirmed a leave (Ant Media's spelling), or took
// this client out of the room: Reason is "kicked" when an operator removed
// it (see the Reason* constants; "" from servers that do not say).
type Leaved struct{ Room, Reason string }

// Start: a partner joined the room; this peer makes the offer.
// PeerSession is the joiner's call-session id, when it sent one.
type Start struct {
	Room        string
	PeerSession string
	Peer        string // in a mesh room: the member that joined, to offer to
}

// Stop: the partner left or its socket went away; the room waits for the
// next peer. Reason is why, from servers that say (see the Reason*
// constants); "" from servers that do not.
type Stop struct {
	Room   string
	Reason string
	Peer   string // in a mesh room: the member that left ("" : this member was removed)
}

// Reasons of a Stop (hub.Reason names on the wire).
const (
	ReasonLeft        = "left"        // the partner sent leave or stop: it hung up
	ReasonClosed      = "closed"      // its socket closed and it had not asked to resume
	ReasonTimeout     = "timeout"     // it went silent, or its held seat's grace ran out
	ReasonEvicted     = "evicted"     // it did not answer a liveness probe
	ReasonKicked      = "kicked"      // an operator removed it
	ReasonNodeFailure = "nodeFailure" // its server node died
	ReasonRestart     = "restart"     // it gave its peer connection up and joined again: a start follows
)

// PeerReconnecting: the partner's socket was lost and the server holds its
// seat for Grace. Sent only to a client that joined resumable.
type PeerReconnecting struct {
	Room  string
	Grace time.Duration
	Peer  string // in a mesh room: whose seat
}

// PeerReconnected: the partner took its held seat back.
type PeerReconnected struct {
	Room string
	Peer string // in a mesh room: whose seat
}

// NetworkChanged: the machine's network addresses changed (see
// Options.NetworkPollInterval). Gone lists the addresses that went away,
// Added the new ones. When the socket's own address is gone the client
// moves to a new socket at once.
type NetworkChanged struct{ Gone, Added []string }

// TakeConfiguration is a session description (Type "offer" or "answer").
type TakeConfiguration struct {
	Room string
	Type string
	SDP  string
	Peer string // in a mesh room: the member it is for, or from
}

// TakeCandidate is one trickled ICE candidate.
type TakeCandidate struct {
	Room      string
	Label     int    // sdpMLineIndex
	ID        string // sdpMid
	Candidate string // "candidate:..." line
	Peer      string // in a mesh room: the member it is for, or from
}

// PeerMessage is an opaque message relayed between the two peers.
type PeerMessage struct {
	Room       string
	Definition string
	Data       json.RawMessage // any JSON value; nil is sent as ""
	Peer       string          // in a mesh room: the member it is for, or from
}

// ICEConfig is the server's answer to getIceServerConfig.
type ICEConfig struct{ Config protocol.ICEServerConfig }

// ServerWillStop: the server is draining. The client moves to a new socket
// after a short random delay.
type ServerWillStop struct{}

// EventRoom implements Event.
func (Connected) EventRoom() string { return "" }

// EventRoom implements Event.
func (Disconnected) EventRoom() string { return "" }

// EventRoom implements Event.
func (e Joined) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (e Leaved) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (e Start) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (e Stop) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (e TakeConfiguration) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (e TakeCandidate) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (e PeerMessage) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (e PeerReconnecting) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (e PeerReconnected) EventRoom() string { return e.Room }

// EventRoom implements Event.
func (NetworkChanged) EventRoom() string { return "" }

// EventRoom implements Event.
func (ICEConfig) EventRoom() string { return "" }

// EventRoom implements Event.
func (ServerWillStop) EventRoom() string { return "" }

// EventRoom implements Event. An error without a room goes to every
// subscription.
func (e *ServerError) EventRoom() string { return e.Room }

// Client → server frames. Field names are the wire's.
type (
	joinWire struct {
		Command   string `json:"command"`
		StreamID  string `json:"streamId"`
		MultiPeer bool   `json:"multiPeer"`
		Mode      string `json:"mode"`
		Token     string `json:"token,omitempty"`
		// duet's resume extensions (docs/protocol.md)
		Session     string `json:"session,omitempty"`
		Resumable   bool   `json:"resumable,omitempty"`
		ResumeToken string `json:"resumeToken,omitempty"`
		// Restart asks a repeated join to start the call over (the
		// partner gets stop, reason restart, then start): sent by a peer
		// that gave its connection up while the partner is still there.
		Restart bool `json:"restart,omitempty"`
		// MaxPeers: the client speaks mesh, and asks for a mesh room of
		// this many members if it is the first joiner.
		MaxPeers int `json:"maxPeers,omitempty"`
		// Peer, with Restart in a mesh room: only the call with this
		// member starts over.
		Peer string `json:"peer,omitempty"`
	}
	roomWire struct {
		Command  string `json:"command"`
		StreamID string `json:"streamId,omitempty"`
	}
	configurationWire struct {
		Command  string `json:"command"`
		StreamID string `json:"streamId"`
		Type     string `json:"type"`
		SDP      string `json:"sdp"`
		Peer     string `json:"peer,omitempty"`
	}
	candidateWire struct {
		Command   string `json:"command"`
		StreamID  string `json:"streamId"`
		Label     int    `json:"label"`
		ID        string `json:"id"`
		Candidate string `json:"candidate"`
		Peer      string `json:"peer,omitempty"`
	}
	peerMessageWire struct {
		Command    string          `json:"command"`
		StreamID   string          `json:"streamId"`
		Definition string          `json:"definition"`
		Data       json.RawMessage `json:"data"`
		Peer       string          `json:"peer,omitempty"`
	}
	// iceWire is the part of iceServerConfig protocol.Message lacks.
	iceWire struct {
		StunServerURI        string `json:"stunServerUri"`
		TurnServerUsername   string `json:"turnServerUsername"`
		TurnServerCredential string `json:"turnServerCredential"`
		ICEServers           []struct {
			URLs       json.RawMessage `json:"urls"` // a string or a list, as in RTCIceServer
			Username   string          `json:"username"`
			Credential string          `json:"credential"`
		} `json:"iceServers"`
	}
)

func (m TakeConfiguration) wire() any {
	return configurationWire{protocol.CmdTakeConfiguration, m.Room, m.Type, m.SDP, m.Peer}
}

func (m TakeCandidate) wire() any {
	return candidateWire{protocol.CmdTakeCandidate, m.Room, m.Label, m.ID, m.Candidate, m.Peer}
}

func (m PeerMessage) wire() any {
	data := m.Data
	if len(data) == 0 {
		data = json.RawMessage(`""`)
	}
	return peerMessageWire{protocol.CmdPeerMessage, m.Room, m.Definition, data, m.Peer}
}

// extWire holds the fields of duet's resume extensions that
// protocol.Message does not decode.
type extWire struct {
	ResumeToken    string `json:"resumeToken"`
	ReconnectGrace int64  `json:"reconnectGrace"` // ms
	Resumed        bool   `json:"resumed"`
	PeerSession    string `json:"peerSession"`
	Reason         string `json:"reason"`
	// mesh rooms
	Peer     string     `json:"peer"`
	PeerID   string     `json:"peerId"`
	MaxPeers int        `json:"maxPeers"`
	Peers    []MeshPeer `json:"peers"`
}

// decodeExt reads the extension fields of a control frame (joined, start,
// stop, peerReconnecting): few and small, so a second decode costs little.
func decodeExt(frame []byte) extWire {
	var w extWire
	json.Unmarshal(frame, &w) // a malformed field leaves its zero value
	return w
}

// Notifications of duet's resume extensions.
const (
	notifyPeerReconnecting = "peerReconnecting"
	notifyPeerReconnected  = "peerReconnected"
)

// decodeICE reads an iceServerConfig frame.
func decodeICE(frame []byte) (protocol.ICEServerConfig, error) {
	var w iceWire
	if err := json.Unmarshal(frame, &w); err != nil {
		return protocol.ICEServerConfig{}, err
	}
	c := protocol.ICEServerConfig{
		StunServerURI:        w.StunServerURI,
		TurnServerUsername:   w.TurnServerUsername,
		TurnServerCredential: w.TurnServerCredential,
	}
	for _, s := range w.ICEServers {
		var urls []string
		var one string
		if json.Unmarshal(s.URLs, &one) == nil {
			urls = []string{one}
		} else if json.Unmarshal(s.URLs, &urls) != nil {
			continue
		}
		c.ICEServers = append(c.ICEServers, protocol.ICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
	}
	return c, nil
}

// decodeEvent turns one server frame into an Event; ok is false for frames
// that carry nothing for the application (pong, unknown commands).
func decodeEvent(frame []byte) (ev Event, ok bool, err error) {
	m, err := protocol.Decode(frame)
	if err != nil {
		return nil, false, err
	}
	switch m.Command {
	case protocol.CmdNotification:
		switch m.Definition {
		case protocol.NotifyJoined:
			x := decodeExt(frame)
			return Joined{Room: m.StreamID, Resumed: x.Resumed, ResumeToken: x.ResumeToken,
				ReconnectGrace: time.Duration(x.ReconnectGrace) * time.Millisecond, PeerSession: x.PeerSession,
				MaxPeers: x.MaxPeers, PeerID: x.PeerID, Peers: x.Peers}, true, nil
		case notifyPeerReconnecting:
			x := decodeExt(frame)
			return PeerReconnecting{Room: m.StreamID, Grace: time.Duration(x.ReconnectGrace) * time.Millisecond, Peer: x.Peer}, true, nil
		case notifyPeerReconnected:
			return PeerReconnected{Room: m.StreamID, Peer: m.Peer}, true, nil
		case protocol.NotifyLeaved:
			return Leaved{Room: m.StreamID, Reason: decodeExt(frame).Reason}, true, nil
		case protocol.NotifyServerWillStop:
			return ServerWillStop{}, true, nil
		}
	case protocol.CmdStart:
		return Start{Room: m.StreamID, PeerSession: decodeExt(frame).PeerSession, Peer: m.Peer}, true, nil
	case protocol.CmdStop:
		return Stop{Room: m.StreamID, Reason: decodeExt(frame).Reason, Peer: m.Peer}, true, nil
	case protocol.CmdTakeConfiguration:
		return TakeConfiguration{Room: m.StreamID, Type: m.Type, SDP: m.SDP, Peer: m.Peer}, true, nil
	case protocol.CmdTakeCandidate:
		return TakeCandidate{Room: m.StreamID, Label: m.Label.Value, ID: string(m.ID), Candidate: m.Candidate, Peer: m.Peer}, true, nil
	case protocol.CmdPeerMessage:
		return PeerMessage{Room: m.StreamID, Definition: m.Definition, Data: m.Data, Peer: m.Peer}, true, nil
	case protocol.CmdIceServerConfig:
		c, err := decodeICE(frame)
		if err != nil {
			return nil, false, err
		}
		return ICEConfig{Config: c}, true, nil
	case protocol.CmdError:
		return &ServerError{Room: m.StreamID, Definition: protocol.Error(m.Definition)}, true, nil
	case protocol.CmdQuality:
		return decodeQuality(frame, m.StreamID), true, nil
	}
	return nil, false, nil
}
