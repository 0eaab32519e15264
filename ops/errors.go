package ops

import "errors"

var (
	errNotObservable = errors.New("ops: webhooks need a room backend that reports events")
	errNoAdmin       = errors.New("ops: the admin API needs a room backend that lists rooms")
	errNoIdentities  = errors.New("ops: push with room tokens needs Options.Subscribers to check the senders' tokens")
)
