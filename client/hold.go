package client

import (
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Holding a track back while the partner cannot receive it.
//
// pion starts every sender an offer has carried when the next description
// is applied, whatever that description says of its m-line. Answering an
// offer that does not receive on an m-line we send on (one only our
// given-up offer had, negotiate.go, or one the partner's pion offers as
// sendonly, needed.go) would start RTP the partner does not expect, for a
// whole round until our own offer gets there. A browser drops it; pion
// takes the first packets of an SSRC it does not know to probe for its
// m-line, and they are lost to the track once it is known (and shared
// with it while the probe lasts). So before we answer, such tracks are
// swapped for a silent stand-in (same ids and kind: the SDP does not
// change), and swapped back once the partner receives on their m-line.
// Meanwhile the sender's Track is the stand-in; a track the application
// replaces or removes meanwhile is left as it is.
//
// Everything here runs on the peer's goroutine.

// heldTrack stands in for a track: ID, RID, StreamID and Kind are the
// held track's, and it sends nothing.
type heldTrack struct {
	webrtc.TrackLocal
}

// Bind binds with the codec the held track would take: it is bound for a
// moment to a context that writes nowhere.
func (h *heldTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	q := quietContext{ctx}
	codec, err := h.TrackLocal.Bind(q)
	if err != nil {
		return codec, err
	}
	return codec, h.TrackLocal.Unbind(q)
}

func (h *heldTrack) Unbind(webrtc.TrackLocalContext) error { return nil }

type quietContext struct{ webrtc.TrackLocalContext }

func (quietContext) WriteStream() webrtc.TrackLocalWriter { return discard{} }
func (q quietContext) ID() string                         { return q.TrackLocalContext.ID() + "-held" }

type discard struct{}

func (discard) WriteRTP(*rtp.Header, []byte) (int, error) { return 0, nil }
func (discard) Write(b []byte) (int, error)               { return len(b), nil }

// holdUnsendable holds the tracks of the m-lines offer does not let us
// send on; offer is the partner's, applied, not yet answered.
func (s *Session) holdUnsendable(offer *webrtc.SessionDescription) {
	od := parse(offer)
	if od == nil {
		return
	}
	for _, t := range s.pc.GetTransceivers() {
		if t.Mid() == "" || !sending(t) {
			continue
		}
		if m := byMid(od, t.Mid()); m != nil && receives(direction(m, od)) {
			continue
		}
		sender := t.Sender()
		if _, held := sender.Track().(*heldTrack); held {
			continue
		}
		h := &heldTrack{sender.Track()}
		if err := sender.ReplaceTrack(h); err != nil {
			s.peer.log.Debug("track not held", "mid", t.Mid(), "err", err)
			continue
		}
		if s.held == nil {
			s.held = map[*webrtc.RTPTransceiver]*heldTrack{}
		}
		s.held[t] = h
		s.peer.log.Debug("track held until the partner receives it", "mid", t.Mid())
	}
}

// releaseHeld puts the held tracks back whose m-line the partner now
// receives on.
func (s *Session) releaseHeld() {
	if len(s.held) == 0 || s.pc.SignalingState() != webrtc.SignalingStateStable {
		return
	}
	rd := parse(s.pc.CurrentRemoteDescription())
	if rd == nil {
		return
	}
	for t, h := range s.held {
		if m := byMid(rd, t.Mid()); m == nil || !receives(direction(m, rd)) {
			continue
		}
		delete(s.held, t)
		if sender := t.Sender(); sender != nil && sender.Track() == h {
			if err := sender.ReplaceTrack(h.TrackLocal); err != nil {
				s.peer.log.Warn("held track not put back", "mid", t.Mid(), "err", err)
			}
		}
	}
}

// parse parses a description pion returned (not with its Unmarshal,
// which would write to pion's own); nil when there is none.
func parse(d *webrtc.SessionDescription) *sdp.SessionDescription {
	if d == nil {
		return nil
	}
	parsed := &sdp.SessionDescription{}
	if err := parsed.UnmarshalString(d.SDP); err != nil {
		return nil
	}
	return parsed
}
