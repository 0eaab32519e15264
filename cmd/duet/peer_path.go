package main

import (
	"github.com/pion/webrtc/v4"
)

// mediaPath describes the connection's selected candidate pair: whether
// the peers reach each other directly (host), through a NAT's public
// address (srflx, prflx) or through a TURN relay, and over what. It is
// what a person debugging "why is this call relayed" asks first.
func mediaPath(pc *webrtc.PeerConnection) map[string]any {
	sctp := pc.SCTP()
	if sctp == nil {
		return nil
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return nil
	}
	path := map[string]any{
		"local":          pair.Local.Typ.String(),
		"remote":         pair.Remote.Typ.String(),
		"protocol":       pair.Local.Protocol.String(),
		"local_address":  pair.Local.Address,
		"remote_address": pair.Remote.Address,
	}
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay {
		for _, st := range pc.GetStats() {
			c, ok := st.(webrtc.ICECandidateStats)
			if ok && c.Type == webrtc.StatsTypeLocalCandidate && c.IP == pair.Local.Address && int(c.Port) == int(pair.Local.Port) {
				path["relay_protocol"], path["url"] = c.RelayProtocol, c.URL
			}
		}
	}
	return path
}
