// Package access is the seam between the transport and whatever decides
// who may use a room: the server asks an Authorizer before a join touches
// a room, and token checkers (package auth) implement it without depending
// on the transport.
package access

import "context"

// Authorizer decides whether a join may enter a room. It is called before
// the room is touched and returns nil or an error wrapping the protocol
// error to send (protocol.ErrUnauthorized, protocol.ErrTokenNotValid); any
// other error is sent as serviceUnavailable.
type Authorizer interface {
	AuthorizeJoin(ctx context.Context, req JoinRequest) error
}

// JoinRequest is what an Authorizer sees of a join. Token is the join's
// token field, or the token query parameter of the socket's URL when the
// join has none; RemoteAddr is the client address (see trusted_proxies).
type JoinRequest struct {
	App, StreamID, Token, Mode string
	RemoteAddr                 string
}
