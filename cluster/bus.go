package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// bus is a NATS connection as the cluster uses it: core subjects,
// requests with replies. A node has two: control (heartbeats, probes,
// kills, acknowledgements, operators' requests) and data (relayed frames
// and room transitions), so that a burst of frames cannot delay a
// heartbeat. natsBus is the real one; the tests run whole nodes on an
// in-process bus (bus_mem_test.go).
type bus interface {
	Publish(subj string, data []byte) error
	// Subscribe calls h for each message on subj, one at a time, in the
	// order they arrived.
	Subscribe(subj string, h func(busMsg)) error
	// Request publishes data on subj and returns the first reply; with
	// nobody subscribed it fails at once with errNoResponders, and with
	// nobody answering in time with context.DeadlineExceeded.
	Request(ctx context.Context, subj string, data []byte) ([]byte, error)
	// Gather publishes data on subj as a request and hands each reply to
	// each until each returns false or ctx ends.
	Gather(ctx context.Context, subj string, data []byte, each func([]byte) bool) error
	// Flush returns once the server has everything published so far.
	Flush(ctx context.Context) error
	Connected() bool
	Close()
}

// busMsg is one message a subscription got.
type busMsg struct {
	Data    []byte
	respond func([]byte) error // nil when the sender expects no reply
}

// Respond replies to a request (every reply, for a Gather).
func (m busMsg) Respond(b []byte) error {
	if m.respond == nil {
		return nats.ErrMsgNoReply
	}
	return m.respond(b)
}

var errNoResponders = errors.New("cluster: nobody subscribed to the subject")

// natsBus is a bus on a NATS connection. deep gives its subscriptions a
// deep buffer: relays come in bursts, and the data handler only queues
// frames, so the buffer costs memory only when a burst outruns it for a
// moment.
type natsBus struct {
	nc   *nats.Conn
	deep bool
}

func (b natsBus) Publish(subj string, data []byte) error { return b.nc.Publish(subj, data) }

func (b natsBus) Subscribe(subj string, h func(busMsg)) error {
	sub, err := b.nc.Subscribe(subj, func(m *nats.Msg) {
		msg := busMsg{Data: m.Data}
		if m.Reply != "" {
			msg.respond = m.Respond
		}
		h(msg)
	})
	if err == nil && b.deep {
		err = sub.SetPendingLimits(1<<20, 256<<20)
	}
	return err
}

func (b natsBus) Request(ctx context.Context, subj string, data []byte) ([]byte, error) {
	m, err := b.nc.RequestWithContext(ctx, subj, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%w: %w", errNoResponders, err)
	case errors.Is(err, nats.ErrTimeout):
		return nil, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	case err != nil:
		return nil, err
	}
	return m.Data, nil
}

func (b natsBus) Gather(ctx context.Context, subj string, data []byte, each func([]byte) bool) error {
	inbox := b.nc.NewRespInbox()
	ch := make(chan *nats.Msg, 256)
	sub, err := b.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := b.nc.PublishRequest(subj, inbox, data); err != nil {
		return err
	}
	for {
		select {
		case m := <-ch:
			if !each(m.Data) {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (b natsBus) Flush(ctx context.Context) error { return b.nc.FlushWithContext(ctx) }
func (b natsBus) Connected() bool                 { return b.nc.IsConnected() }
func (b natsBus) Close()                          { b.nc.Close() }
