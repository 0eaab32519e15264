package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/poison"
	"github.com/duet-rtc/duet/internal/ws"
	"github.com/duet-rtc/duet/protocol"
)

// maxInvalidStreak is how many malformed frames in a row close a socket.
const maxInvalidStreak = 10

// handle runs one text frame. It is called only by the reader goroutine.
func (c *conn) handle(data []byte, now time.Time) (relayed bool) {
	if isReport(data) {
		c.report(data, now)
		return
	}
	if !c.allow(now) {
		c.limited++
		if c.limited == 1 {
			c.sendError(protocol.ErrRateLimited, "")
		}
		if c.limited > max(c.srv.cfg.RateBurst, 10) {
			c.srv.metrics.Rejected.WithLabelValues("rate_limit").Inc()
			c.Close(ws.ClosePolicy, "rate limit exceeded", ws.CausePolicy)
		}
		return
	}
	c.limited = 0
	st := decodePool.Get().(*decodeState)
	defer st.release()
	m := &st.msg
	// Relayed messages are encoded again before the next read, so their
	// strings may point into the read buffer; anything else may be kept
	// (a room name, a token) and gets its own copy.
	err := protocol.DecodeBorrowed(data, m)
	relay := err == nil && isRelay(m.Command)
	if err == nil && !relay {
		m.Own()
	}
	if err != nil {
		c.sendError(definition(err), "")
		if errors.Is(err, protocol.ErrInvalidJSON) {
			c.invalid++
			if c.invalid >= maxInvalidStreak {
				c.srv.metrics.Rejected.WithLabelValues("invalid_json").Inc()
				c.Close(ws.CloseInvalidPayload, "too many invalid messages", ws.CausePolicy)
			}
		}
		return
	}
	c.invalid = 0
	if relay {
		c.relay(m, st)
		return true
	}
	switch m.Command {
	case protocol.CmdPing:
		c.Send(protocol.Pong(nil))
	case protocol.CmdGetIceServer:
		c.getICE()
	case protocol.CmdJoin:
		c.join(m)
	case protocol.CmdLeave, protocol.CmdStop:
		c.leave(m)
	case protocol.CmdQualityReport:
		c.report(data, now)
	case protocol.CmdRegisterPush, protocol.CmdSendPush:
		if c.srv.push == nil {
			c.sendError(protocol.ErrUnsupportedCommand, "")
			return
		}
		c.srv.push.Handle(c.app, m.Command, data, func(b []byte) { c.Send(b) })
	default:
		c.sendError(protocol.ErrUnsupportedCommand, "")
	}
	return false
}

// allow is the rate limit: RateBurst messages at once, RateLimit a second
// sustained. The limiter is made on the first message, so a socket that
// never speaks does not pay for one.
func (c *conn) allow(now time.Time) bool {
	if c.srv.cfg.RateLimit <= 0 {
		return true
	}
	if c.limiter == nil {
		c.limiter = rate.NewLimiter(rate.Limit(c.srv.cfg.RateLimit), c.srv.cfg.RateBurst)
	}
	return c.limiter.AllowN(now, 1)
}

// streamID validates m's streamId; on failure it answers the error.
func (c *conn) streamID(m *protocol.Message) (string, bool) {
	if err := protocol.ValidateStreamID(m.StreamID); err != nil {
		c.sendError(definition(err), "")
		return "", false
	}
	return m.StreamID, true
}

func (c *conn) join(m *protocol.Message) {
	id, ok := c.streamID(m)
	if !ok {
		return
	}
	c.forgetRemoved()
	in := slices.Contains(c.rooms, id)
	if !in && len(c.rooms) >= c.srv.cfg.MaxRoomsPerConn {
		c.sendError(protocol.ErrTooManyRooms, id)
		return
	}
	if !in && !c.admitJoin(m, id) {
		c.joinOutcome(id, false, access.Grant{})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.srv.cfg.ProbeTimeout+5*time.Second)
	defer cancel()
	// Authorize before the room is touched: a refused join takes no seat
	// and probes no member. A repeated join of a room the socket is in is
	// checked again only when it brings a token: that is how a member
	// renews what its token granted (its TURN credential lives no longer
	// than the token); a refused renewal leaves the member where it was.
	var grant access.Grant
	if c.srv.auth != nil && (!in || m.Token != "") {
		token := m.Token
		if token == "" {
			token = c.urlToken
		}
		var err error
		grant, err = access.GrantJoin(ctx, c.srv.auth, access.JoinRequest{App: c.app, StreamID: id, Token: token, Mode: m.Mode, RemoteAddr: c.remote})
		if err != nil {
			c.sendError(definition(err), id)
			if !in {
				c.joinOutcome(id, false, grant)
			}
			return
		}
	}
	c.busy.Store(true)
	info := c.joinInfo(m)
	c.joining(info.Session)
	info.Again, info.Prelude = in, c.icePrelude(id, grant)
	var err error
	// A join may wait for members' answers to a probe: outside the reader
	// pool, so that their sockets can be read meanwhile.
	c.Outside(func() { err = c.srv.rooms.Join(ctx, c, hub.Key{App: c.app, Stream: id}, info) })
	c.busy.Store(false)
	if errors.Is(err, hub.ErrRemoved) {
		// An operator removed the socket meanwhile: join afresh.
		c.forgetRoom(id)
		c.join(m)
		return
	}
	if err != nil {
		c.sendError(definition(err), id)
		c.joinOutcome(id, false, grant)
		return
	}
	c.joinOutcome(id, true, grant)
	if !in {
		c.rooms = append(c.rooms, id)
		c.srv.metrics.Joins.Inc()
	}
}

// leave takes the socket out of a room it is in. A leave or stop for any
// other room touches no room (a partner there is not this socket's) and is
// answered with leaved all the same: the Android SDK sends leave before
// every rejoin, on its new socket, and hands any error to the app
// (docs/protocol.md, "Leaving a room one is not in").
func (c *conn) leave(m *protocol.Message) {
	id, ok := c.streamID(m)
	if !ok {
		return
	}
	i := slices.Index(c.rooms, id)
	if i < 0 {
		c.Send(protocol.Notification(nil, protocol.NotifyLeaved, id))
		return
	}
	c.srv.rooms.Leave(c, hub.Key{App: c.app, Stream: id}, hub.ReasonLeft)
	c.leftRoom(id)
	c.rooms = slices.Delete(c.rooms, i, i+1)
}

func isRelay(cmd string) bool {
	switch cmd {
	case protocol.CmdTakeConfiguration, protocol.CmdTakeCandidate, protocol.CmdPeerMessage:
		return true
	}
	return false
}

// decodeState is what handling one message borrows: the decoded message
// and a buffer to encode a relayed frame in. Pooled, so that a socket
// holds neither between messages.
type decodeState struct {
	msg   protocol.Message
	frame []byte
}

var decodePool = sync.Pool{New: func() any { return new(decodeState) }}

func (st *decodeState) release() {
	poison.Fill(st.frame)       // a relayed frame is lent to the backend for one call
	st.msg = protocol.Message{} // drop the strings (an SDP can be large)
	if cap(st.frame) > 64<<10 {
		st.frame = nil
	}
	st.frame = st.frame[:0]
	decodePool.Put(st)
}

// relay forwards m to the partner. m's strings point into the socket's
// read buffer, which the next read overwrites: the room is named by the
// socket's own copy of its name (a backend may keep a Key), and the frame
// is encoded into the pooled buffer and lent to the backend for the call
// (hub.Loan: keeping it takes a Clone).
func (c *conn) relay(m *protocol.Message, st *decodeState) {
	id, ok := c.streamID(m)
	if !ok {
		return
	}
	if err := protocol.ValidateRelay(m); err != nil {
		c.sendError(definition(err), id)
		return
	}
	i := slices.Index(c.rooms, id)
	if i < 0 {
		// Not a member: no backend call, and so nothing to keep.
		c.sendError(protocol.ErrNoPeerAssociated, id)
		return
	}
	st.frame = protocol.Relay(st.frame[:0], m)
	k := hub.Key{App: c.app, Stream: c.rooms[i]}
	var err error
	if mr, ok := c.srv.rooms.(hub.Mesher); ok && m.Peer != "" {
		err = mr.RelayPeer(c, k, m.Peer, hub.Lend(st.frame))
	} else {
		err = c.srv.rooms.Relay(c, k, hub.Lend(st.frame))
	}
	if err != nil {
		c.sendError(definition(err), id)
		return
	}
	c.srv.metrics.Relayed(m.Command, len(st.frame))
}

func (c *conn) sendError(def protocol.Error, streamID string) {
	c.srv.metrics.Error(def)
	c.Send(protocol.ErrorMsg(nil, def, streamID))
}

// definition maps an error to the definition sent on the wire.
func definition(err error) protocol.Error {
	var def protocol.Error
	if errors.As(err, &def) {
		return def
	}
	var fe *protocol.FieldError
	if errors.As(err, &fe) {
		return fe.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return protocol.ErrHighResourceUsage
	}
	return protocol.ErrServiceUnavailable
}
