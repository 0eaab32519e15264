package server

import (
	"log/slog"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
)

// newLocal is the in-process backend for cfg: it holds a resumable
// member's seat for reconnect_grace. Frames kept for a held seat are
// bounded by send_queue_bytes, less room for the resumed joined that goes
// out before them, so that delivering them never overflows the new
// socket's queue.
func newLocal(cfg config.Config, log *slog.Logger) *hub.Local {
	return hub.NewLocalWith(hub.LocalOptions{
		ProbeTimeout:   cfg.ProbeTimeout,
		ReconnectGrace: cfg.ReconnectGrace,
		HoldBytes:      cfg.SendQueueBytes - joinedReserve,
		Logger:         log,
	})
}

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
	info := hub.JoinInfo{Remote: c.remote, Resumable: m.Resumable, ResumeToken: m.ResumeToken}
	if protocol.ValidSession(m.Session) {
		info.Session = m.Session
	}
	return info
}

// leaveReason is why the socket's rooms are left when it ends: an idle
// timeout, or otherwise closed (by the peer, a failed write, a slow
// reader's overflow, or a drain).
func (c *conn) leaveReason() hub.Reason {
	if r := hub.Reason(c.ended.Load()); r != 0 {
		return r
	}
	return hub.ReasonClosed
}
