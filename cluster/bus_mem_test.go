package cluster

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// memNet is an in-process NATS for tests of whole nodes: exact subjects,
// subscriptions that each deliver in order on their own goroutine (as a
// NATS connection's do), requests with replies. It counts the messages
// on their way, so that a test can wait until every node is quiet.
//
// Lock order: memNet.mu, memBus.mu and memSub.mu are leaves; no handler
// runs under any of them.
type memNet struct {
	mu       sync.Mutex
	subs     map[string][]*memSub
	inflight atomic.Int64
}

type memBus struct {
	net    *memNet
	mu     sync.Mutex
	subs   []*memSub
	closed bool
	down   atomic.Bool // cut off: nothing goes out, nothing comes in
}

type memSub struct {
	bus    *memBus
	subj   string
	h      func(busMsg)
	mu     sync.Mutex
	queue  []busMsg
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

var errBusClosed = errors.New("membus: closed or cut off")

func (n *memNet) bus() *memBus { return &memBus{net: n} }

func (n *memNet) deliver(subj string, m busMsg) int {
	n.mu.Lock()
	subs := append([]*memSub(nil), n.subs[subj]...)
	n.mu.Unlock()
	got := 0
	for _, s := range subs {
		if s.push(m) {
			got++
		}
	}
	return got
}

func (s *memSub) push(m busMsg) bool {
	if s.bus.down.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.bus.net.inflight.Add(1)
	s.queue = append(s.queue, m)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

func (s *memSub) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if s.closed {
			s.bus.net.inflight.Add(-int64(len(s.queue)))
			s.queue = nil
			s.mu.Unlock()
			return
		}
		m := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		s.h(m)
		s.bus.net.inflight.Add(-1)
	}
}

func (b *memBus) Publish(subj string, data []byte) error {
	if !b.Connected() {
		return errBusClosed
	}
	b.net.deliver(subj, busMsg{Data: bytes.Clone(data)})
	return nil
}

func (b *memBus) Subscribe(subj string, h func(busMsg)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBusClosed
	}
	s := &memSub{bus: b, subj: subj, h: h, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.subs = append(b.subs, s)
	b.net.mu.Lock()
	if b.net.subs == nil {
		b.net.subs = map[string][]*memSub{}
	}
	b.net.subs[subj] = append(b.net.subs[subj], s)
	b.net.mu.Unlock()
	go s.run()
	return nil
}

func (b *memBus) Request(ctx context.Context, subj string, data []byte) ([]byte, error) {
	if !b.Connected() {
		return nil, errBusClosed
	}
	reply := make(chan []byte, 1)
	m := busMsg{Data: bytes.Clone(data), respond: func(r []byte) error {
		select {
		case reply <- bytes.Clone(r):
		default: // a later reply: NATS drops it too
		}
		return nil
	}}
	if b.net.deliver(subj, m) == 0 {
		return nil, errNoResponders
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *memBus) Gather(ctx context.Context, subj string, data []byte, each func([]byte) bool) error {
	if !b.Connected() {
		return errBusClosed
	}
	replies := make(chan []byte, 256)
	b.net.deliver(subj, busMsg{Data: bytes.Clone(data), respond: func(r []byte) error {
		select {
		case replies <- bytes.Clone(r):
		default: // a slow consumer loses replies, as on NATS
		}
		return nil
	}})
	for {
		select {
		case r := <-replies:
			if !each(r) {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (b *memBus) Flush(context.Context) error {
	if !b.Connected() {
		return errBusClosed
	}
	return nil
}

func (b *memBus) Connected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.closed && !b.down.Load()
}

// Close unsubscribes everything and waits for the subscriptions'
// goroutines.
func (b *memBus) Close() {
	b.mu.Lock()
	subs := b.subs
	b.subs, b.closed = nil, true
	b.mu.Unlock()
	for _, s := range subs {
		b.net.mu.Lock()
		list := b.net.subs[s.subj]
		for i, x := range list {
			if x == s {
				b.net.subs[s.subj] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		b.net.mu.Unlock()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		<-s.done
	}
}
