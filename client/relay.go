package client

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/protocol"
)

// Keeping a relayed call up, and never leaving a partner waiting: the
// server's ICE servers applied to the current PeerConnection (a restarted
// server mints TURN credentials its predecessor's TURN would refuse, or
// runs its TURN elsewhere), TURN credentials asked again before they
// expire, a path through a lost server's TURN moved at once, and a
// connection given up rebuilt through the server. Everything here runs on
// the peer's goroutine.

// iceConfig applies the server's answer to getIceServerConfig (asked on
// every socket open, before the rejoin) to the current session, so that
// its next ICE restart gathers with it. A new PeerConnection takes it
// anyway (newSession).
func (p *Peer) iceConfig(c protocol.ICEServerConfig) {
	if len(p.opts.Configuration.ICEServers) > 0 {
		return // the application's own servers win
	}
	servers := ICEServers(c)
	renewed := false
	if exp := credentialExpiry(servers); !exp.IsZero() {
		renewed = !p.iceExpiry.IsZero() && exp.After(p.iceExpiry)
		p.iceExpiry = exp
		p.scheduleICERefresh(exp)
	}
	s := p.cur
	if s == nil || s.Err() != nil {
		return
	}
	cfg := s.pc.GetConfiguration()
	if sameServers(cfg.ICEServers, servers) {
		return
	}
	cfg.ICEServers = servers
	if err := s.pc.SetConfiguration(cfg); err != nil {
		p.log.Warn("fresh ICE servers not applied", "err", err)
		return
	}
	p.log.Debug("fresh ICE servers applied", "renewed_credentials", renewed)
	if renewed && relayedLocal(s.pc) {
		// A TURN server refuses to refresh an allocation made with an
		// expired credential: gather a new one with the new credential.
		p.wantRestart(s, "turn credentials renewed")
	}
}

// scheduleICERefresh asks for fresh ICE servers when three quarters of
// the credentials' remaining lifetime have passed (the server mints new
// ones once half their lifetime is over).
func (p *Peer) scheduleICERefresh(exp time.Time) {
	if p.iceRefresh != nil {
		p.iceRefresh.Stop()
	}
	wait := max(time.Until(exp)*3/4, time.Second)
	p.iceRefresh = time.AfterFunc(wait, func() {
		p.post(func() {
			if p.ctx.Err() != nil {
				return
			}
			ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
			defer cancel()
			if err := p.c.RequestICEConfig(ctx); err != nil {
				p.log.Debug("ICE servers not asked again (the next socket asks)", "err", err)
			}
		})
	})
}

// serverGone: the socket to the server was lost. If our path is relayed
// through a TURN server that server told us of, that TURN may be gone
// with it.
func (p *Peer) serverGone() {
	s := p.cur
	if s == nil || s.Err() != nil || len(p.opts.Configuration.ICEServers) > 0 {
		return
	}
	cfg, ok := p.c.ICEConfig()
	if !ok {
		return
	}
	if relayedVia(s.pc, turnHosts(ICEServers(cfg))) {
		p.turnSuspect = true
	}
}

// rebuild asks the server to pair us with the partner again (a join with
// restart: true): our connection is given up for good, and the partner,
// still in the room, would otherwise wait on its own for ever. It gets
// stop (reason restart) and start, and offers a new connection.
func (p *Peer) rebuild() {
	p.log.Info("connection given up while the partner is in the room: asking the server for a new pairing")
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if err := p.c.restartCall(ctx, p.room, p.peerID()); err != nil {
		p.log.Warn("new pairing not asked", "err", err)
	}
}

// RequestICEConfig asks the server for its ICE servers again (the answer
// is an ICEConfig event, and ICEConfig returns it). The client asks on
// every socket open by itself; a Peer asks again before TURN credentials
// expire.
func (c *Client) RequestICEConfig(ctx context.Context) error {
	return c.write(ctx, roomWire{Command: protocol.CmdGetIceServer})
}

// RestartCall sends room's join again with restart: true, on the current
// socket: the server starts the call over (the partner gets stop with
// reason restart, then start, and offers anew; this client gets joined).
// It is for a peer that gave its connection up while the partner is still
// in the room; a Peer does it by itself.
func (c *Client) RestartCall(ctx context.Context, room string) error {
	return c.restartCall(ctx, room, "")
}

// restartCall is RestartCall; in a mesh room, peer names the one member
// whose call with us starts over ("": all of them).
func (c *Client) restartCall(ctx context.Context, room, peer string) error {
	c.mu.Lock()
	rs := c.rooms[room]
	if rs == nil || !rs.joined {
		c.mu.Unlock()
		return ErrNotConnected
	}
	o := rs.opts
	c.mu.Unlock()
	token, err := o.currentToken(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	msg := rs.joinMsg(room, token)
	c.mu.Unlock()
	msg.Restart, msg.Peer = true, peer
	return c.write(ctx, msg)
}

// selectedPair is the PeerConnection's selected candidate pair, or nil.
func selectedPair(pc *webrtc.PeerConnection) *webrtc.ICECandidatePair {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return nil
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return nil
	}
	return pair
}

func relayedLocal(pc *webrtc.PeerConnection) bool {
	pair := selectedPair(pc)
	return pair != nil && pair.Local != nil && pair.Local.Typ == webrtc.ICECandidateTypeRelay
}

// relayedVia reports whether either end of the selected pair is a relay
// candidate at one of hosts (a relay candidate's address is its TURN
// server's).
func relayedVia(pc *webrtc.PeerConnection, hosts []string) bool {
	pair := selectedPair(pc)
	if pair == nil {
		return false
	}
	for _, c := range []*webrtc.ICECandidate{pair.Local, pair.Remote} {
		if c != nil && c.Typ == webrtc.ICECandidateTypeRelay && slices.Contains(hosts, c.Address) {
			return true
		}
	}
	return false
}

// turnHosts lists the hosts of the turn:/turns: URLs of servers.
func turnHosts(servers []webrtc.ICEServer) []string {
	var hosts []string
	for _, s := range servers {
		for _, u := range s.URLs {
			scheme, rest, ok := strings.Cut(u, ":")
			if !ok || (scheme != "turn" && scheme != "turns") {
				continue
			}
			rest, _, _ = strings.Cut(rest, "?")
			if h, _, err := splitHostPort(rest); err == nil {
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

func splitHostPort(hp string) (string, string, error) {
	u, err := url.Parse("//" + hp)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}

// credentialExpiry is when the TURN REST credentials (username
// "expiry:user") of servers expire; zero when none says.
func credentialExpiry(servers []webrtc.ICEServer) time.Time {
	var first time.Time
	for _, s := range servers {
		ts, _, ok := strings.Cut(s.Username, ":")
		if !ok {
			continue
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || sec < 1e9 {
			continue
		}
		if at := time.Unix(sec, 0); first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

func sameServers(a, b []webrtc.ICEServer) bool {
	return slices.EqualFunc(a, b, func(x, y webrtc.ICEServer) bool {
		return slices.Equal(x.URLs, y.URLs) && x.Username == y.Username && x.Credential == y.Credential
	})
}
