package client

import (
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// The negotiation engine: the only place an offer or an answer is made.
// It is "perfect negotiation" (W3C WebRTC, section 10.7): either side may
// offer whenever its session needs it (a track added or removed, an ICE
// restart); when both offer at once, the polite side rolls its offer back
// and answers, the impolite side ignores the offer it got. The side that
// received start (the initial offerer) is impolite, as in duet.js. The
// roles are fixed for the life of a PeerConnection, so they never change
// under a call, whatever order the two rejoin a restarted server in.
//
// pion cannot roll a local offer back (have-local-offer → stable is not a
// transition it allows), so the polite side never applies its offer
// before it is accepted: it sends the offer and applies it only together
// with the answer. A colliding offer then finds it still stable, and
// "rolling back" is forgetting the offer. The wire sees exactly what a
// browser's perfect negotiation would send. Two things a real rollback
// would undo stay, and are made harmless: the mids that offer gave new
// m-lines (the polite side names its own, so the partner's cannot clash
// with them: nameNewMids), and what it was for, which is checked again,
// with our own check rather than pion's, once the partner's offer is
// answered (needed.go).
//
// Everything here runs on the peer's goroutine.

// newSession makes the PeerConnection of a new partner connection; the
// initial offerer is the impolite side.
func (p *Peer) newSession(offerer bool) (*Session, error) {
	cfg := p.opts.Configuration
	if len(cfg.ICEServers) == 0 {
		if ice, ok := p.c.ICEConfig(); ok {
			cfg.ICEServers = ICEServers(ice)
		}
	}
	pc, err := p.api.NewPeerConnection(cfg)
	if err != nil {
		return nil, err
	}
	s := newSession(p.room, offerer, pc)
	s.peer = p
	s.partner = p.roomPeer
	p.cur = s
	p.outbox = nil
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			init := c.ToJSON()
			p.post(func() { p.sendCandidate(s, init) })
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.post(func() { p.connectionState(s, st) })
	})
	pc.OnNegotiationNeeded(func() {
		p.post(func() {
			s.needed = true // checked again when an offer can go out
			p.negotiate(s)
		})
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { s.useChannel(dc, func() { p.post(func() { p.opened(s) }) }) })
	if p.opts.OnPeerConnection != nil {
		if err := p.opts.OnPeerConnection(pc); err != nil {
			return nil, fmt.Errorf("OnPeerConnection: %w", err)
		}
	}
	p.emit(PeerEvent{Kind: EventNegotiating, Offerer: offerer})
	return s, nil
}

// offer starts a connection with a new partner: we got start.
func (p *Peer) offer() error {
	s, err := p.newSession(true)
	if err != nil {
		return err
	}
	if p.opts.RecvMedia {
		sending := map[webrtc.RTPCodecType]bool{}
		for _, t := range s.pc.GetTransceivers() {
			if t.Sender() != nil && t.Sender().Track() != nil {
				sending[t.Kind()] = true
			}
		}
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if sending[kind] {
				continue
			}
			if _, err := s.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return err
			}
		}
	}
	dc, err := s.pc.CreateDataChannel(p.opts.DataChannelLabel, nil)
	if err != nil {
		return err
	}
	s.useChannel(dc, func() { p.post(func() { p.opened(s) }) })
	return p.makeOffer(s, false)
}

// negotiate offers on the current session if it needs it (pion's
// negotiationneeded, or an ICE restart wanted) and can: we are joined and
// the signaling state is stable. Otherwise it is called again when that
// changes (resync, a stable state reached).
func (p *Peer) negotiate(s *Session) {
	if s != p.cur || s.Err() != nil || !p.online || s.inflight != nil ||
		s.pc.SignalingState() != webrtc.SignalingStateStable {
		return
	}
	if s.pc.RemoteDescription() == nil {
		return // the first offer or answer is not through yet
	}
	restart := s.restartWhy != ""
	if !restart && !(s.needed && needsNegotiation(s.pc, s.DataChannel() != nil)) {
		s.needed = false
		return
	}
	s.needed = false
	if restart {
		if s.restarts >= p.opts.MaxICERestarts {
			p.log.Warn("ICE restarts exhausted", "restarts", s.restarts)
			p.endSession(ErrConnectionFailed)
			return
		}
		s.restarts++
		p.armRestartTimer(s)
		p.emit(PeerEvent{Kind: EventRenegotiating, Reason: "ice restart: " + s.restartWhy})
		p.log.Info("ICE restart", "why", s.restartWhy, "attempt", s.restarts)
		s.restartWhy = ""
	} else {
		p.log.Debug("renegotiating", "polite", s.polite())
		p.emit(PeerEvent{Kind: EventRenegotiating})
	}
	if err := p.makeOffer(s, restart); err != nil {
		p.log.Warn("renegotiation failed", "err", err)
		p.endSession(err)
		return
	}
	s.restartOut = restart
}

func (p *Peer) makeOffer(s *Session, iceRestart bool) error {
	if s.polite() {
		if err := s.nameNewMids(); err != nil {
			return err
		}
	}
	offer, err := s.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		return err
	}
	if s.polite() {
		// Applied with the answer (see above).
		s.inflight, s.inflightRestart = &offer, iceRestart
		p.sendDescription(s, "offer", offer.SDP)
		return nil
	}
	if err := s.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	p.sendDescription(s, "offer", offer.SDP)
	return nil
}

// answer handles an offer: a new partner's first, or a renegotiation of
// the current session, or a collision with our own offer.
func (p *Peer) answer(sdp string) error {
	s := p.cur
	fp := fingerprint(sdp)
	if s == nil || s.remoteFP != "" && fp != s.remoteFP {
		// Another PeerConnection on the other side: a new partner.
		p.endSession(ErrReplaced)
		var err error
		if s, err = p.newSession(false); err != nil {
			return err
		}
	}
	if p.hello != nil {
		s.setHello(p.hello)
		p.hello = nil
	}
	if s.inflight != nil || s.pc.SignalingState() != webrtc.SignalingStateStable {
		// Glare: both offered at once.
		if !s.polite() {
			p.log.Debug("offer collision: ignoring the partner's offer (impolite)")
			p.emit(PeerEvent{Kind: EventCollision, Reason: "ignored their offer"})
			return nil
		}
		p.log.Debug("offer collision: rolling back ours (polite)")
		p.emit(PeerEvent{Kind: EventCollision, Reason: "rolled back our offer"})
		if s.inflightRestart && s.restartWhy == "" {
			s.restartWhy = "restart offer rolled back"
		}
		s.inflight, s.inflightRestart, s.restartOut = nil, false, false
		// What our offer carried is checked again once we are stable
		// (below): the partner's offer may already carry it, or not.
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	s.remoteFP = fp
	p.flushPending(s)
	s.holdUnsendable(s.pc.RemoteDescription())
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := s.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	p.sendDescription(s, "answer", answer.SDP)
	s.releaseHeld()
	// Stable again: an ICE restart may be waiting, and what an offer we
	// gave up carried, or a track the partner's offer left no way to send,
	// may need an offer of ours. pion's check after this answer misses the
	// latter (needed.go), so ours runs whether or not pion asks.
	s.needed = true
	p.negotiate(s)
	return nil
}

func (p *Peer) setAnswer(sdp string) error {
	s := p.cur
	if s != nil && s.inflight != nil {
		offer := *s.inflight
		s.inflight, s.inflightRestart = nil, false
		if err := s.pc.SetLocalDescription(offer); err != nil {
			return err
		}
	}
	if s == nil || s.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		p.log.Debug("answer ignored: no offer pending")
		return nil
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return err
	}
	s.remoteFP = fingerprint(sdp)
	s.restartOut = false
	p.flushPending(s)
	s.releaseHeld()
	p.negotiate(s)
	return nil
}

// sendDescription sends our offer or answer, with our hello before a
// session's first. One that cannot be sent now (the socket is down) is
// sent again by resync.
func (p *Peer) sendDescription(s *Session, typ, sdp string) {
	s.unsent = true
	if !p.online {
		return
	}
	if !s.helloSent && p.opts.Hello != nil {
		if err := p.send(PeerMessage{Room: p.room, Definition: HelloDefinition, Data: p.opts.Hello}); err != nil {
			p.log.Debug("hello not sent", "err", err)
			return
		}
	}
	s.helloSent = true
	if err := p.send(TakeConfiguration{Room: p.room, Type: typ, SDP: sdp}); err != nil {
		p.log.Debug("description not sent", "type", typ, "err", err)
		return
	}
	s.unsent = false
}

// sendCandidate trickles a local candidate; while the socket is down it
// waits in the outbox.
func (p *Peer) sendCandidate(s *Session, c webrtc.ICECandidateInit) {
	if s != p.cur || s.Err() != nil {
		return
	}
	tc := TakeCandidate{Room: p.room, Candidate: c.Candidate}
	if c.SDPMLineIndex != nil {
		tc.Label = int(*c.SDPMLineIndex)
	}
	if c.SDPMid != nil {
		tc.ID = *c.SDPMid
	}
	if p.online && !s.unsent {
		if err := p.send(tc); err == nil {
			return
		}
	}
	if len(p.outbox) < maxPending {
		p.outbox = append(p.outbox, tc)
	}
}

func (p *Peer) remoteCandidate(e TakeCandidate) {
	if e.Candidate == "" {
		return // end of candidates
	}
	label := uint16(e.Label)
	id := e.ID
	c := webrtc.ICECandidateInit{Candidate: e.Candidate, SDPMid: &id, SDPMLineIndex: &label}
	s := p.cur
	if s == nil || s.pc.RemoteDescription() == nil {
		// Candidates can overtake the description: keep them for it.
		if len(p.pending) < maxPending {
			p.pending = append(p.pending, c)
		}
		return
	}
	if err := s.pc.AddICECandidate(c); err != nil {
		p.log.Debug("remote candidate rejected", "err", err)
	}
}

func (p *Peer) flushPending(s *Session) {
	for _, c := range p.pending {
		if err := s.pc.AddICECandidate(c); err != nil {
			p.log.Debug("remote candidate rejected", "err", err)
		}
	}
	p.pending = nil
}

// fingerprint returns the first a=fingerprint of an SDP: it names the
// certificate of the PeerConnection that made it, so a new value means a
// new PeerConnection on the other side (a new partner), while ICE restarts
// and renegotiations keep it.
func fingerprint(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=fingerprint:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
