package access

import (
	"context"
	"time"
)

// Grant is what an authorized join may use beyond entering its room, and
// for how long: the TURN credentials a member gets are bound to it.
type Grant struct {
	// Expiry is when the token that authorized the join expires (zero:
	// never). A member's TURN credential does not outlive it.
	Expiry time.Time
	// Token names that token, the same for every join that brings it and
	// never the token itself ("": no token), so that what one token buys
	// (TURN allocations) can be counted however many sockets bring it.
	Token string
}

// Granter is an Authorizer that says what a join was granted.
type Granter interface {
	Authorizer
	GrantJoin(ctx context.Context, req JoinRequest) (Grant, error)
}

// GrantJoin asks a for a join: a Granter says what it granted; any other
// Authorizer grants entry only.
func GrantJoin(ctx context.Context, a Authorizer, req JoinRequest) (Grant, error) {
	if g, ok := a.(Granter); ok {
		return g.GrantJoin(ctx, req)
	}
	return Grant{}, a.AuthorizeJoin(ctx, req)
}
