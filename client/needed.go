package client

import (
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// needsNegotiation is the W3C "check if negotiation is needed" over pion's
// public API. pion fires negotiationneeded from its own goroutine, which
// may run late, after a description the event predates was applied; the
// peer checks again on its goroutine before it offers, so a stale event
// does not cost a useless round of offer and answer.
//
// One check is added to the W3C ones, for an answer: a transceiver that
// sends where the offer it answered does not receive needs an offer of its
// own. pion keeps one direction per transceiver where the W3C keeps two
// (the one asked for and the one negotiated): answering an offer that
// only sends on an m-line turns its recvonly into inactive, so its next
// track goes out as sendonly though nobody asked it to stop receiving. And
// pion answers with its own direction whatever the offer allowed, so an
// answer that claims sendrecv to a sendonly offer looks done to the W3C
// check while nothing is sent. Offering sendrecv then makes the other pion
// side receive again (it widens sendonly to sendrecv on such an offer); a
// side that really does not want to receive answers so and the offer,
// once applied, satisfies the check.
func needsNegotiation(pc *webrtc.PeerConnection, hasChannel bool) bool {
	local := pc.CurrentLocalDescription()
	if local == nil {
		return true
	}
	// Parsed here: the descriptions pion returns are its own, and their
	// Unmarshal would write to them.
	ld := &sdp.SessionDescription{}
	if err := ld.UnmarshalString(local.SDP); err != nil {
		return true
	}
	var rd *sdp.SessionDescription
	if remote := pc.CurrentRemoteDescription(); remote != nil {
		rd = &sdp.SessionDescription{}
		if rd.UnmarshalString(remote.SDP) != nil {
			rd = nil
		}
	}
	if hasChannel && !hasApplication(ld) {
		return true
	}
	for _, t := range pc.GetTransceivers() {
		if t.Mid() == "" {
			return true
		}
		m := byMid(ld, t.Mid())
		if m == nil {
			return true
		}
		dir := t.Direction()
		if dir == webrtc.RTPTransceiverDirectionSendrecv || dir == webrtc.RTPTransceiverDirectionSendonly {
			if tr := t.Sender(); tr != nil && tr.Track() != nil {
				msid, ok := m.Attribute(sdp.AttrKeyMsid)
				if !ok || msid != tr.Track().StreamID()+" "+tr.Track().ID() {
					return true
				}
			}
		}
		switch local.Type {
		case webrtc.SDPTypeOffer:
			var rm *sdp.MediaDescription
			if rd != nil {
				rm = byMid(rd, t.Mid())
			}
			if rm == nil {
				return true
			}
			if direction(m, ld) != dir && direction(rm, rd) != reverse(dir) {
				return true
			}
		case webrtc.SDPTypeAnswer:
			if direction(m, ld) != dir {
				return true
			}
			if sending(t) && rd != nil {
				if rm := byMid(rd, t.Mid()); rm != nil && !receives(direction(rm, rd)) {
					return true
				}
			}
		}
	}
	return false
}

// sending reports whether t is asked to send a track.
func sending(t *webrtc.RTPTransceiver) bool {
	dir := t.Direction()
	if dir != webrtc.RTPTransceiverDirectionSendrecv && dir != webrtc.RTPTransceiverDirectionSendonly {
		return false
	}
	return t.Sender() != nil && t.Sender().Track() != nil
}

// receives reports whether a media section's direction lets its side
// receive.
func receives(d webrtc.RTPTransceiverDirection) bool {
	return d == webrtc.RTPTransceiverDirectionSendrecv || d == webrtc.RTPTransceiverDirectionRecvonly
}

func hasApplication(d *sdp.SessionDescription) bool {
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media == "application" {
			return true
		}
	}
	return false
}

func byMid(d *sdp.SessionDescription, mid string) *sdp.MediaDescription {
	for _, m := range d.MediaDescriptions {
		if v, ok := m.Attribute(sdp.AttrKeyMID); ok && v == mid {
			return m
		}
	}
	return nil
}

// direction is a media section's direction attribute (sendrecv when it
// has none).
func direction(m *sdp.MediaDescription, d *sdp.SessionDescription) webrtc.RTPTransceiverDirection {
	for _, attrs := range [][]sdp.Attribute{m.Attributes, d.Attributes} {
		for _, a := range attrs {
			if dir := webrtc.NewRTPTransceiverDirection(a.Key); dir != webrtc.RTPTransceiverDirectionUnknown {
				return dir
			}
		}
	}
	return webrtc.RTPTransceiverDirectionSendrecv
}

func reverse(d webrtc.RTPTransceiverDirection) webrtc.RTPTransceiverDirection {
	switch d {
	case webrtc.RTPTransceiverDirectionSendonly:
		return webrtc.RTPTransceiverDirectionRecvonly
	case webrtc.RTPTransceiverDirectionRecvonly:
		return webrtc.RTPTransceiverDirectionSendonly
	}
	return d
}
