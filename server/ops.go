package server

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/ice"
	"github.com/duet-rtc/duet/protocol"
)

// maxHeldICE bounds the getIceServerConfig requests a socket may have
// waiting for its first join; more are answered once with the rest.
const maxHeldICE = 4

// opsState is a socket's part in what operators control: the rooms an
// operator removed it from, and its answer to getIceServerConfig.
type opsState struct {
	mu         sync.Mutex
	removed    []string // rooms an operator took it out of, not yet forgotten by the reader
	hasRemoved atomic.Bool
	turnUser   string // the TURN username of this socket's credential ("": none); under mu

	// Owned by the reader goroutine.
	iceHeld   int          // getIceServerConfig requests waiting for a join's outcome
	authed    bool         // a join with a valid token has succeeded (tokens required)
	label     string       // app.room of the first successful join: the credential's user
	grant     access.Grant // what the last join with a valid token was granted
	ice       []byte       // this socket's iceServerConfig answer, once minted
	iceRenew  time.Time    // when to mint a fresh one (half its lifetime)
	iceMinted bool         // ice holds credentials minted for this socket
}

var _ hub.Removable = (*conn)(nil)

// Removed implements hub.Removable: an operator took the socket out of
// room k. The reader forgets the room before its next join.
func (c *conn) Removed(k hub.Key) {
	c.ops.mu.Lock()
	c.ops.removed = append(c.ops.removed, k.Stream)
	user := c.ops.turnUser
	c.ops.mu.Unlock()
	c.ops.hasRemoved.Store(true)
	if user != "" && c.srv.turn != nil {
		// A removed member's relays end with it (EndUser only marks
		// them: the TURN server closes them on its own goroutine).
		c.srv.turn.EndUser(user)
	}
}

// forgetRemoved drops the rooms an operator removed the socket from.
func (c *conn) forgetRemoved() {
	if !c.ops.hasRemoved.Load() {
		return
	}
	c.ops.mu.Lock()
	removed := c.ops.removed
	c.ops.removed = nil
	c.ops.hasRemoved.Store(false)
	c.ops.mu.Unlock()
	for _, id := range removed {
		c.forgetRoom(id)
	}
}

func (c *conn) forgetRoom(id string) {
	if i := slices.Index(c.rooms, id); i >= 0 {
		c.rooms = slices.Delete(c.rooms, i, i+1)
		c.leftRoom(id)
	}
}

// getICE answers getIceServerConfig. When tokens are required, ICE
// servers and TURN credentials go only to a socket that has joined a room
// with a valid token: a request from any other socket waits for its next
// join, and is answered with credentials just before joined, or with empty
// strings if the join fails. Ant Media's JS SDK asks as its socket opens,
// before it joins, and uses the answer for its next peer connection, so
// the answer must come before any offer and cannot be refused outright.
func (c *conn) getICE() {
	if c.srv.auth != nil && !c.ops.authed {
		c.ops.iceHeld = min(c.ops.iceHeld+1, maxHeldICE)
		c.srv.metrics.ICEAnswers.WithLabelValues("held").Inc()
		return
	}
	label := c.ops.label
	if label == "" {
		label = c.app
	}
	c.Send(c.iceAnswer(ice.Member{Label: label, Token: c.ops.grant.Token, Expiry: c.ops.grant.Expiry}))
	c.srv.metrics.ICEAnswers.WithLabelValues("servers").Inc()
}

// iceAnswer is the socket's iceServerConfig frame. Credentials are minted
// once per socket for member m (the app, or app.room of the join that
// authorized it; bound to its room token and no longer-lived than it) and
// given again on every request until half their lifetime has passed, so
// that one member holds one TURN credential and the embedded TURN server's
// quota per credential is a quota per member.
func (c *conn) iceAnswer(m ice.Member) []byte {
	now := time.Now()
	if c.ops.ice != nil && (!c.ops.iceMinted || now.Before(c.ops.iceRenew)) {
		return c.ops.ice
	}
	cfg := c.srv.ice.ICEServerConfig(context.Background(), m)
	c.ops.ice = protocol.IceServerConfigMsg(nil, cfg)
	c.ops.iceMinted = false
	user := turnUsername(cfg)
	if expiry, err := ice.CheckUsername(user, now); err == nil {
		c.ops.iceMinted = true
		c.ops.iceRenew = now.Add(expiry.Sub(now) / 2)
	}
	c.ops.mu.Lock()
	c.ops.turnUser = user
	c.ops.mu.Unlock()
	return c.ops.ice
}

// turnUsername is the TURN username of an answer ("" without TURN).
func turnUsername(cfg protocol.ICEServerConfig) string {
	for _, s := range cfg.ICEServers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn") && s.Username != "" {
				return s.Username
			}
		}
	}
	return cfg.TurnServerUsername
}

// icePrelude is what a join hands the backend to send just before joined:
// the answer to held getIceServerConfig requests, minted for this member
// under what its join was granted.
func (c *conn) icePrelude(stream string, g access.Grant) []byte {
	if c.ops.iceHeld == 0 {
		return nil
	}
	return c.iceAnswer(ice.Member{Label: c.app + "." + stream, Token: g.Token, Expiry: g.Expiry})
}

// joinOutcome settles held getIceServerConfig requests after a join:
// authorized tells whether the socket is now in a room with a valid token
// (the prelude already answered one request), granted g. A grant other
// than the one the socket's credential was minted under makes the next
// request mint afresh.
func (c *conn) joinOutcome(stream string, authorized bool, g access.Grant) {
	if authorized && c.ops.label == "" {
		c.ops.label = c.app + "." + stream
	}
	if c.srv.auth == nil {
		return
	}
	if authorized && g != c.ops.grant {
		if c.ops.iceHeld == 0 && c.ops.iceMinted {
			c.ops.ice = nil // renewed: the next answer is minted for g
		}
		c.ops.grant = g
	}
	held := c.ops.iceHeld
	c.ops.iceHeld = 0
	if authorized {
		c.ops.authed = true
		for range held - 1 {
			c.Send(c.ops.ice)
		}
		c.srv.metrics.ICEAnswers.WithLabelValues("servers").Add(float64(held))
		return
	}
	for range held {
		c.Send(protocol.IceServerConfigMsg(nil, protocol.ICEServerConfig{}))
	}
	c.srv.metrics.ICEAnswers.WithLabelValues("refused").Add(float64(held))
}
