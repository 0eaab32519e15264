package server

import (
	"log/slog"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
)

// NewLocal is the in-process backend for cfg, as New makes it when
// Options.Rooms is nil; build it yourself to observe it (package ops). It
// holds a resumable
// member's seat for reconnect_grace. Frames kept for a held seat are
// bounded by send_queue_bytes, less room for the resumed joined that goes
// out before them, so that delivering them never overflows the new
// socket's queue.
func NewLocal(cfg config.Config, log *slog.Logger) *hub.Local {
	return hub.NewLocalWith(hub.LocalOptions{
		ProbeTimeout:   cfg.ProbeTimeout,
		ReconnectGrace: cfg.ReconnectGrace,
		HoldBytes:      HoldBytes(cfg),
		HoldCaps:       HoldCaps(cfg),
		Logger:         log,
	})
}

// HoldCaps are the caps on held seats that cfg sets, for any backend
// (max_held_seats_per_ip, max_held_seats, max_held_bytes).
func HoldCaps(cfg config.Config) *hub.HoldCaps {
	return &hub.HoldCaps{PerAddr: cfg.MaxHeldPerIP, Total: cfg.MaxHeldSeats, KeptMax: int64(cfg.MaxHeldBytes)}
}

// HoldBytes is how many bytes of relayed frames a backend keeps for a held
// seat under cfg: send_queue_bytes, less room for the resumed joined that
// goes out before them, so that delivering them never overflows the new
// socket's queue.
func HoldBytes(cfg config.Config) int { return cfg.SendQueueBytes - joinedReserve }

// joinedReserve is the room a resumed joined (with a token and the
// partner's session) and a notification need in a socket's send queue.
const joinedReserve = 512

// closeOwnRooms ends the holds of the backend New made, once every socket
// is gone: nothing can resume on a server that stopped.
func (s *Server) closeOwnRooms() {
	if s.own != nil {
		s.own.Close()
	}
}

// joinInfo is what a join tells the room backend. An invalid session is
// treated as absent.
func (c *conn) joinInfo(m *protocol.Message) hub.JoinInfo {
	info := hub.JoinInfo{Remote: c.remote, Addr: capKey(c.addr), Resumable: m.Resumable, ResumeToken: m.ResumeToken, Restart: m.Restart}
	if protocol.ValidSession(m.Session) {
		info.Session = m.Session
	}
	if m.MaxPeers > 0 {
		// A room of two unless both the app and the client want more.
		info.Mesh, info.MaxPeers = true, min(m.MaxPeers, config.MaxPeersFor(c.srv.peers, c.app))
		info.RestartPeer = m.Peer
	}
	return info
}
