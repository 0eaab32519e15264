package mobilepeer

import "github.com/pion/webrtc/v4"

// newPC makes the call's peer connection, closing any other, and wires
// its candidates, data channel, tracks and state to the peer.
func (p *Peer) newPC() (*webrtc.PeerConnection, error) {
	p.dropPC()
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.pc = pc
	p.pcs++
	n := p.pcs
	p.mu.Unlock()
	p.logf("peer connection %d", n)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		ci := c.ToJSON()
		label, mid := 0, "0"
		if ci.SDPMLineIndex != nil {
			label = int(*ci.SDPMLineIndex)
		}
		if ci.SDPMid != nil {
			mid = *ci.SDPMid
		}
		p.send(map[string]any{"command": "takeCandidate", "streamId": p.opt.Room, "label": label, "id": mid, "candidate": ci.Candidate})
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { p.useDC(pc, dc) })
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			p.rtp.Add(1)
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		p.logf("peer connection %d: ICE %s", n, s)
		if s == webrtc.ICEConnectionStateDisconnected || s == webrtc.ICEConnectionStateFailed {
			p.mu.Lock()
			p.lost++
			p.mu.Unlock()
		}
		p.iceState(pc, s)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.connected(pc)
		}
	})
	return pc, nil
}

// useDC makes dc the call's data channel if pc is still the call's.
func (p *Peer) useDC(pc *webrtc.PeerConnection, dc *webrtc.DataChannel) {
	p.mu.Lock()
	if p.pc == pc {
		p.dc = dc
	}
	p.mu.Unlock()
	dc.OnOpen(func() { p.logf("data channel open") })
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		p.mu.Lock()
		if p.pc == pc {
			p.got = append(p.got, string(msg.Data))
		}
		p.mu.Unlock()
	})
}

// offer answers start: a new peer connection with the SDK's data channel
// (labelled with the stream id) and the partner's audio and video asked
// for, offered to the partner.
func (p *Peer) offer() {
	pc, err := p.newPC()
	if err != nil {
		p.logf("offer: %v", err)
		return
	}
	dc, err := pc.CreateDataChannel(p.opt.Room, nil)
	if err != nil {
		p.logf("data channel: %v", err)
		return
	}
	p.useDC(pc, dc)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	o, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(o)
	}
	if err != nil {
		p.logf("offer: %v", err)
		return
	}
	p.send(map[string]any{"command": "takeConfiguration", "streamId": p.opt.Room, "type": "offer", "sdp": o.SDP})
}

// answer takes the partner's offer: on the call's peer connection if it
// has not negotiated yet, else on a new one.
func (p *Peer) answer(sdp webrtc.SessionDescription) {
	p.mu.Lock()
	pc := p.pc
	p.mu.Unlock()
	var err error
	if pc == nil || pc.RemoteDescription() != nil || pc.LocalDescription() != nil {
		pc, err = p.newPC()
	}
	if err != nil {
		p.logf("answer: %v", err)
		return
	}
	if err := p.setRemote(pc, sdp); err != nil {
		p.logf("offer: %v", err)
		return
	}
	a, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(a)
	}
	if err != nil {
		p.logf("answer: %v", err)
		return
	}
	p.send(map[string]any{"command": "takeConfiguration", "streamId": p.opt.Room, "type": "answer", "sdp": a.SDP})
}

// remote takes the partner's answer.
func (p *Peer) remote(sdp webrtc.SessionDescription) {
	p.mu.Lock()
	pc := p.pc
	p.mu.Unlock()
	if pc == nil {
		return
	}
	if err := p.setRemote(pc, sdp); err != nil {
		p.logf("answer: %v", err)
	}
}

// setRemote sets sdp on pc and adds the candidates that came before it.
func (p *Peer) setRemote(pc *webrtc.PeerConnection, sdp webrtc.SessionDescription) error {
	if err := pc.SetRemoteDescription(sdp); err != nil {
		return err
	}
	p.mu.Lock()
	var pending []webrtc.ICECandidateInit
	if p.pc == pc {
		pending, p.pending = p.pending, nil
	}
	p.mu.Unlock()
	for _, c := range pending {
		pc.AddICECandidate(c)
	}
	return nil
}

func (p *Peer) candidate(c webrtc.ICECandidateInit) {
	p.mu.Lock()
	pc := p.pc
	if pc == nil || pc.RemoteDescription() == nil {
		p.pending = append(p.pending, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	pc.AddICECandidate(c)
}

// dropPC closes the call's peer connection, as the SDKs' disconnect does.
func (p *Peer) dropPC() {
	p.mu.Lock()
	pc := p.pc
	p.pc, p.dc, p.pending = nil, nil, nil
	p.mu.Unlock()
	if pc != nil {
		pc.Close()
	}
}

func (p *Peer) connected(pc *webrtc.PeerConnection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc != pc {
		return
	}
	p.connects++
	if p.reconnecting { // Android onConnected: the reconnection is done
		p.reconnecting = false
		if p.retry != nil {
			p.retry.Stop()
			p.retry = nil
		}
		p.logf("reconnected")
	}
}
