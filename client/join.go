package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/protocol"
)

// JoinOption changes a join: WithToken, WithTokenSource, WithSession,
// WithResume.
type JoinOption struct {
	token       string
	tokenSource func(context.Context) (string, error)
	session     string
	resumable   bool
	maxPeers    int
}

// TokenSource returns a room token for a join. It is called for every
// join and rejoin (after a reconnect, or when a rejoin was refused for
// its token), on a goroutine of its own, so it may fetch a token over the
// network; ctx ends when the socket the join is for is lost.
type TokenSource func(ctx context.Context) (string, error)

// WithToken sends a token with the join, for servers that require one.
func WithToken(token string) JoinOption { return JoinOption{token: token} }

// WithTokenSource asks src for the token of every join and rejoin, so a
// long call outlives a short-lived token: when a rejoin after a reconnect
// is refused with authenticationTokenNotValid or unauthorized_access,
// the client asks src again and retries (a few times) instead of giving
// up the room.
func WithTokenSource(src TokenSource) JoinOption { return JoinOption{tokenSource: src} }

// WithSession sends a call-session id with the join (duet's extension,
// docs/protocol.md): the server hands it to the partner (PeerSession of
// Joined and Start), so that two duet peers recognise each other after the
// server lost its state. It must match [A-Za-z0-9_-]{1,64}; NewSessionID
// makes one.
func WithSession(id string) JoinOption { return JoinOption{session: id} }

// WithResume asks the server to hold the seat for its reconnect grace when
// the socket is lost without a leave; the client's rejoin then takes it
// back with the resume token of the last Joined, and the partner never
// sees a stop.
func WithResume() JoinOption { return JoinOption{resumable: true} }

// WithMaxPeers says the client speaks the mesh protocol and asks for a
// mesh room of up to n members if it is the room's first joiner (the
// server caps it by its max_peers; docs/protocol.md, Mesh rooms). Joined
// then carries the room's limit, and in a mesh room the member ids.
func WithMaxPeers(n int) JoinOption { return JoinOption{maxPeers: n} }

// maxAuthRetries bounds the fresh tokens asked for a refused rejoin.
const maxAuthRetries = 3

func (o JoinOption) merge(x JoinOption) JoinOption {
	if x.token != "" {
		o.token, o.tokenSource = x.token, nil
	}
	if x.tokenSource != nil {
		o.tokenSource, o.token = x.tokenSource, ""
	}
	if x.session != "" {
		o.session = x.session
	}
	o.resumable = o.resumable || x.resumable
	if x.maxPeers > 0 {
		o.maxPeers = x.maxPeers
	}
	return o
}

// currentToken is the token to send now.
func (o JoinOption) currentToken(ctx context.Context) (string, error) {
	if o.tokenSource == nil {
		return o.token, nil
	}
	return o.tokenSource(ctx)
}

// joinMsg is the join frame for room; the caller holds c.mu.
func (rs *roomState) joinMsg(room, token string) joinWire {
	m := joinWire{Command: protocol.CmdJoin, StreamID: room, Mode: "both", Token: token,
		Session: rs.opts.session, Resumable: rs.opts.resumable, MaxPeers: rs.opts.maxPeers}
	if rs.opts.resumable {
		m.ResumeToken = rs.resumeToken
	}
	return m
}

// sendJoin sends the join of room on ws (a rejoin after a reconnect, or a
// retry with a fresh token), asking the token source first.
func (c *Client) sendJoin(ctx context.Context, ws *websocket.Conn, room string) {
	c.mu.Lock()
	rs := c.rooms[room]
	if rs == nil {
		c.mu.Unlock()
		return
	}
	o := rs.opts
	c.mu.Unlock()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	token, err := o.currentToken(tctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return // the socket is gone; the next one rejoins
		}
		// The server refuses a join without a token, which retries (bounded).
		c.log.Warn("token source failed; rejoining without a token", "room", room, "err", err)
	}
	c.mu.Lock()
	rs = c.rooms[room]
	if rs == nil || rs.joined {
		c.mu.Unlock()
		return
	}
	msg := rs.joinMsg(room, token)
	c.mu.Unlock()
	if err := c.writeOn(ctx, ws, msg); err != nil {
		c.log.Debug("rejoin not sent", "room", room, "err", err)
	}
}

// retryAuthLocked decides whether a refused rejoin of a room joined
// before is retried with a fresh token, and starts the retry. The caller
// holds c.mu.
func (c *Client) retryAuthLocked(room string, rs *roomState, def protocol.Error) bool {
	if rs.opts.tokenSource == nil || !rs.everJoined || rs.authRetries >= maxAuthRetries ||
		(def != protocol.ErrTokenNotValid && def != protocol.ErrUnauthorized) {
		return false
	}
	rs.authRetries++
	delay := time.Duration(rs.authRetries) * c.opts.ReconnectMin
	ws := c.ws
	c.log.Info("rejoin refused for its token: asking for a fresh one", "room", room, "definition", def, "attempt", rs.authRetries)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return
		}
		c.sendJoin(c.ctx, ws, room)
	}()
	return true
}

// errNetworkChanged ends a socket whose local address is gone.
var errNetworkChanged = errors.New("client: the socket's network address is gone")
