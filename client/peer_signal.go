package client

import (
	"net/netip"
	"slices"

	"github.com/pion/webrtc/v4"
)

// What the Peer does with what the server says. Everything here runs on
// the peer's goroutine.

// handle acts on one signaling event; an error stops the peer.
func (p *Peer) handle(ev Event) error {
	switch e := ev.(type) {
	case Joined:
		p.joined(e)
	case Start:
		p.start(e)
	case TakeConfiguration:
		var err error
		switch e.Type {
		case "offer":
			err = p.answer(e.SDP)
		case "answer":
			err = p.setAnswer(e.SDP)
		}
		if err != nil {
			p.log.Warn("negotiation failed", "type", e.Type, "err", err)
			p.endSession(err)
		}
	case TakeCandidate:
		p.remoteCandidate(e)
	case PeerMessage:
		if e.Definition == HelloDefinition {
			if s := p.cur; s != nil && s.offerer {
				s.setHello(e.Data) // the answerer's, before its answer
			} else {
				p.hello = e.Data // the offerer's, before its offer
			}
		}
	case Stop:
		p.stop(e)
	case QualityFrame:
		p.partnerQuality(e)
	case PeerReconnecting:
		p.emit(PeerEvent{Kind: EventPeerReconnecting})
	case PeerReconnected:
		p.emit(PeerEvent{Kind: EventPeerReconnected})
		// What the server wrote to the partner's old socket may be lost
		// (a half-open one): an offer of ours that was under way goes
		// again, and a connection that is not up restarts ICE.
		if s := p.cur; s != nil {
			p.resync(s)
		}
	case Disconnected:
		// A lost socket is not a lost call: the session and its
		// PeerConnection stay; what cannot be sent meanwhile waits.
		p.online = false
		p.serverGone()
		p.emit(PeerEvent{Kind: EventReconnect, Err: e.Err})
	case ICEConfig:
		p.iceConfig(e.Config)
	case NetworkChanged:
		gone := slices.ContainsFunc(e.Gone, p.iceAddr)
		if s := p.cur; s != nil && (gone || slices.ContainsFunc(e.Added, p.iceAddr) &&
			s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected) {
			p.wantRestart(s, "network change")
		}
	case *ServerError:
		if e.Join {
			return e
		}
		if e.Room == p.room {
			p.log.Debug("server error", "definition", e.Definition)
			p.emit(PeerEvent{Kind: EventServerError, Err: e})
		}
	}
	return nil
}

// iceAddr reports whether ICE may use addr: a lost one means a lost path,
// a new one a possible path. IPv6 link-local addresses come and go with
// every link and are not gathered; with Loopback only loopback counts.
func (p *Peer) iceAddr(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.IsLinkLocalUnicast() {
		return false
	}
	return !p.opts.Loopback || ip.IsLoopback()
}

// joined: the server confirmed our (re)join.
func (p *Peer) joined(e Joined) {
	p.online = true
	if e.PeerSession != "" {
		p.away = false
	}
	p.emit(PeerEvent{Kind: EventJoined, Rejoin: e.Rejoin, Resumed: e.Resumed})
	s := p.cur
	p.roomPeer = e.PeerSession
	if s == nil || !e.Rejoin {
		return
	}
	switch {
	case e.Resumed:
		// Our seat was held: the partner never saw us go, and what it
		// sent meanwhile follows this joined.
		p.resync(s)
	case e.PeerSession != "" && e.PeerSession == s.partner:
		// The server lost its state but the partner is back in the room.
		p.emit(PeerEvent{Kind: EventRecognized})
		p.resync(s)
	case e.PeerSession != "":
		// Someone else holds the other seat now: it will get start and
		// offer on a new connection.
		p.endSession(ErrReplaced)
	default:
		// The server lost its state and we are alone in the room (or with a
		// partner that sends no session): keep the connection until a
		// start or an offer shows who is there.
		p.outbox = nil
	}
}

// start: a partner joined; we offer, unless it is the partner we are
// still connected to (it came back after the server lost its state).
func (p *Peer) start(e Start) {
	p.roomPeer = e.PeerSession
	p.away = false
	if s := p.cur; s != nil && e.PeerSession != "" && e.PeerSession == s.partner {
		p.emit(PeerEvent{Kind: EventRecognized})
		p.resync(s)
		return
	}
	p.endSession(ErrReplaced)
	p.pending, p.hello = nil, nil
	if err := p.offer(); err != nil {
		p.log.Warn("offer failed", "err", err)
		p.endSession(err)
	}
}

// stop: the server says the partner is gone. Only a hang-up (left,
// kicked, or a server that gives no reason) or a restart (the partner gave
// its peer connection up and joined again) ends a connected session: for
// any other reason the partner may come back (a new socket, a restarted
// server, another node) and the connection may well be up.
func (p *Peer) stop(e Stop) {
	p.roomPeer = ""
	s := p.cur
	switch {
	case s == nil:
	case e.Reason == "" || e.Reason == ReasonLeft || e.Reason == ReasonKicked || e.Reason == ReasonRestart,
		s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected:
		p.endSession(ErrPeerLeft)
	default:
		p.log.Info("partner gone from the room but the connection is up: kept", "reason", e.Reason)
		p.outbox = nil
		p.away = true
		p.emit(PeerEvent{Kind: EventPeerAway, Reason: e.Reason})
		return
	}
	p.pending, p.hello = nil, nil
}
