package client

import (
	"errors"
	"time"

	"github.com/pion/webrtc/v4"
)

// Keeping a session up: ICE restarts, and picking up where we were after
// the signaling socket comes back. Everything here runs on the peer's
// goroutine.

// connectionState follows the PeerConnection: "disconnected" gets a short
// grace to come back by itself, then ICE restarts; "failed" restarts at
// once (or ends the session when it never connected).
func (p *Peer) connectionState(s *Session, st webrtc.PeerConnectionState) {
	p.log.Debug("peer connection state", "state", st.String())
	if s != p.cur || s.Err() != nil {
		return
	}
	p.emit(PeerEvent{Kind: EventConnectionState, State: st.String()})
	switch st {
	case webrtc.PeerConnectionStateConnected:
		s.everConnected, s.restarts = true, 0
		s.stopTimers()
	case webrtc.PeerConnectionStateDisconnected:
		s.stopGrace()
		s.grace = time.AfterFunc(p.opts.ICERestartGrace, func() {
			p.post(func() {
				if s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
					p.wantRestart(s, "disconnected")
				}
			})
		})
	case webrtc.PeerConnectionStateFailed:
		if !s.everConnected || p.away {
			// Never up, or up only while the partner's signaling was
			// gone: no restart can reach it.
			p.endSession(ErrConnectionFailed)
			return
		}
		p.wantRestart(s, "failed")
	case webrtc.PeerConnectionStateClosed:
		// We never see our own closes (s is no longer current then): the
		// partner closed the connection, which it does when it leaves.
		p.endSession(ErrPeerLeft)
	}
}

// wantRestart asks for an ICE restart of s; negotiate makes it as soon as
// the socket is up and the signaling state stable.
func (p *Peer) wantRestart(s *Session, why string) {
	if s != p.cur || s.Err() != nil || s.pc.RemoteDescription() == nil {
		return
	}
	if p.away {
		// The partner is not in the room: an offer would reach nobody.
		// Its return (start, or joined with its session) restarts ICE
		// then, if the connection is still down.
		p.log.Info("ICE restart wanted but the partner's signaling is gone", "why", why)
		return
	}
	if s.restartWhy == "" {
		s.restartWhy = why
	}
	p.negotiate(s)
}

// armRestartTimer tries again when a restart has not connected in time.
func (p *Peer) armRestartTimer(s *Session) {
	if s.retry != nil {
		s.retry.Stop()
	}
	s.retry = time.AfterFunc(p.opts.ICERestartTimeout, func() {
		p.post(func() {
			if s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
				p.wantRestart(s, "previous restart did not connect")
			}
		})
	})
}

// resync picks a kept session up again after a rejoin: what could not be
// sent goes out, an offer the partner may have missed is sent again (a
// duplicate is harmless: it is answered again, and the extra answer is
// ignored), and a connection that is not up restarts ICE.
func (p *Peer) resync(s *Session) {
	if s.Err() != nil {
		return
	}
	switch {
	case s.inflight != nil:
		s.unsent = true
		p.sendDescription(s, "offer", s.inflight.SDP)
	case s.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer:
		s.unsent = true
		p.sendDescription(s, "offer", s.pc.LocalDescription().SDP)
	case s.unsent && s.pc.LocalDescription() != nil:
		p.sendDescription(s, s.pc.LocalDescription().Type.String(), s.pc.LocalDescription().SDP)
	}
	if !s.unsent {
		out := p.outbox
		p.outbox = nil
		for _, tc := range out {
			if err := p.send(tc); err != nil {
				p.log.Debug("candidate not sent", "err", err)
			}
		}
	}
	turn := p.turnSuspect
	p.turnSuspect = false
	switch {
	case s.restartOut:
		// Our restart's offer went out again above: a new restart now
		// would replace it, and the answer already on its way to it would
		// be ignored (the retry timer still covers a restart that fails).
	case s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected:
		p.wantRestart(s, "rejoined while not connected")
	case turn && s.offerer:
		// Our path went through the TURN server of the server we lost
		// (the embedded one dies with its process): move it now, through
		// the TURN servers the new socket was given, before it fails.
		p.wantRestart(s, "turn server gone")
	default:
		p.negotiate(s) // anything pion asked for meanwhile
	}
}

// opened offers a session whose data channel opened to Accept.
func (p *Peer) opened(s *Session) {
	if s != p.cur || s.Err() != nil {
		return
	}
	p.mu.Lock()
	p.ready = s
	p.mu.Unlock()
	select {
	case p.readyCh <- struct{}{}:
	default:
	}
	p.emit(PeerEvent{Kind: EventConnected, Offerer: s.offerer})
}

// endSession ends the current session, if any, and closes its
// PeerConnection in the background.
func (p *Peer) endSession(err error) {
	s := p.cur
	if s == nil {
		return
	}
	p.cur = nil
	p.outbox = nil
	s.stopTimers()
	if !s.end(err) {
		return
	}
	p.emit(PeerEvent{Kind: EventSessionEnd, Err: err})
	if errors.Is(err, ErrConnectionFailed) && s.everConnected && p.roomPeer != "" {
		p.rebuild()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := s.pc.GracefulClose(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
	}()
}
