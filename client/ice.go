package client

import (
	"net"
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/protocol"
)

// ICEServers converts the server's iceServerConfig answer into pion ICE
// servers, as duet's browser SDK does: the iceServers list when there is
// one, else stunServerUri when it is a stun:, turn: or turns: URI (TURN
// with the credentials), else none.
func ICEServers(c protocol.ICEServerConfig) []webrtc.ICEServer {
	if len(c.ICEServers) > 0 {
		out := make([]webrtc.ICEServer, 0, len(c.ICEServers))
		for _, s := range c.ICEServers {
			is := webrtc.ICEServer{URLs: s.URLs}
			if s.Username != "" || s.Credential != "" {
				is.Username, is.Credential = s.Username, s.Credential
			}
			out = append(out, is)
		}
		return out
	}
	uri := c.StunServerURI
	switch {
	case strings.HasPrefix(uri, "stun:"):
		return []webrtc.ICEServer{{URLs: []string{uri}}}
	case strings.HasPrefix(uri, "turn:"), strings.HasPrefix(uri, "turns:"):
		return []webrtc.ICEServer{{URLs: []string{uri}, Username: c.TurnServerUsername, Credential: c.TurnServerCredential}}
	}
	return nil
}

// UseLoopback makes se gather only IPv4 loopback UDP candidates and turns
// off mDNS: two peers on one machine then connect with no network at all,
// which is what tests and offline demos need. Peers on different machines
// cannot reach such a peer.
func UseLoopback(se *webrtc.SettingEngine) {
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
}

// newAPI builds a pion API with its default codecs and interceptors (as
// webrtc.NewPeerConnection would) and the given setting engine.
func newAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// liveNet is pion's standard network with an interface list read afresh
// whenever ICE gathers candidates. pion's own reads the interfaces once,
// when the PeerConnection is made, so an ICE restart after a network
// change would gather only on interfaces that may be gone, and never on
// the one that came up since.
type liveNet struct {
	*stdnet.Net
	mu sync.Mutex
}

func newLiveNet() (*liveNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &liveNet{Net: n}, nil
}

// Interfaces implements transport.Net, reading them now.
func (n *liveNet) Interfaces() ([]*transport.Interface, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.Net.UpdateInterfaces(); err != nil {
		return nil, err
	}
	return n.Net.Interfaces()
}

// InterfaceByIndex implements transport.Net.
func (n *liveNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.Net.InterfaceByIndex(index)
}

// InterfaceByName implements transport.Net.
func (n *liveNet) InterfaceByName(name string) (*transport.Interface, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.Net.InterfaceByName(name)
}
