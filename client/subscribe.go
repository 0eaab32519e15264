package client

// Subscription receives a Client's events in order on a buffered channel.
type Subscription struct {
	c    *Client
	room string
	ch   chan Event
	err  error // guarded by c.mu
}

// Subscribe returns a subscription to the events of room, plus the events
// about the socket (Connected, Disconnected, ICEConfig, ServerWillStop and
// errors without a room). room "" subscribes to everything. Events are
// buffered (Options.EventBuffer); a subscription that falls that far
// behind is closed with ErrSlowConsumer, so read it promptly and Close it
// when done.
func (c *Client) Subscribe(room string) *Subscription {
	s := &Subscription{c: c, room: room, ch: make(chan Event, c.opts.EventBuffer)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.err = ErrClosed
		close(s.ch)
		return s
	}
	c.subs[s] = struct{}{}
	return s
}

// Events is the channel of events; it is closed when the subscription ends.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Err says why the channel was closed: ErrClosed (Close, or the client
// closed) or ErrSlowConsumer. It is nil while the subscription is open.
func (s *Subscription) Err() error {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.err
}

// Close ends the subscription. Events still buffered stay readable.
func (s *Subscription) Close() {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if _, ok := s.c.subs[s]; ok {
		s.c.dropLocked(s, ErrClosed)
	}
}

func (c *Client) dropLocked(s *Subscription, err error) {
	delete(c.subs, s)
	s.err = err
	close(s.ch)
}
