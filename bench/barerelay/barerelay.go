// Package barerelay holds the bare relays duet's benchmarks compare
// against: the least a WebSocket signaling relay can do. Two sockets that
// connect to /ws?room=R are paired and told {"paired":true}; after that
// every message one sends is written to the other as it is, with no
// parsing, validation, limits or liveness.
//
// Engine is the practical ceiling for duet: the same socket engine duet
// uses (internal/ws: pooled read buffers, one batched write per burst) with
// no signaling logic above it, so duet/Engine is the cost of the protocol.
// Gorilla is the plainest relay a Go developer would write with
// github.com/gorilla/websocket.
package barerelay

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/duet-rtc/duet/internal/ws"
)

// pairer matches the two sockets of a room.
type pairer[S comparable] struct {
	mu      sync.Mutex
	waiting map[string]S
}

// match returns the socket waiting in room, or registers s as waiting.
func (p *pairer[S]) match(room string, s S) (S, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting == nil {
		p.waiting = make(map[string]S)
	}
	if o, ok := p.waiting[room]; ok {
		delete(p.waiting, room)
		return o, true
	}
	p.waiting[room] = s
	var zero S
	return zero, false
}

// forget drops s if it is still waiting in room.
func (p *pairer[S]) forget(room string, s S) {
	p.mu.Lock()
	if p.waiting[room] == s {
		delete(p.waiting, room)
	}
	p.mu.Unlock()
}

var pairedMsg = []byte(`{"paired":true}`)

// Engine is the bare relay on duet's own socket engine.
type Engine struct{ pairs pairer[*esock] }

// NewEngine returns the relay on duet's socket engine.
func NewEngine() *Engine { return &Engine{} }

type esock struct {
	nc      net.Conn
	mu      sync.Mutex
	pending []byte // frames waiting for the writer
	writing bool   // a writer goroutine is running
	partner *esock
	paired  chan struct{}
}

// enqueue queues one frame; a writer runs only while frames wait, and
// writes everything queued in one call.
func (s *esock) enqueue(op ws.Opcode, p []byte) {
	s.mu.Lock()
	s.pending = ws.AppendHeader(s.pending, op, len(p))
	s.pending = append(s.pending, p...)
	if s.writing {
		s.mu.Unlock()
		return
	}
	s.writing = true
	s.mu.Unlock()
	go s.flush()
}

func (s *esock) flush() {
	var buf []byte
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		buf, s.pending = s.pending, buf[:0]
		s.mu.Unlock()
		if _, err := s.nc.Write(buf); err != nil {
			s.nc.Close()
			return // writing stays true: nothing more is written
		}
	}
}

// ServeHTTP pairs and relays one socket.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	if room == "" {
		http.Error(w, "room required", http.StatusBadRequest)
		return
	}
	nc, early, err := ws.Upgrade(w, r, 10*time.Second)
	if err != nil {
		return
	}
	me := &esock{nc: nc, paired: make(chan struct{})}
	if other, ok := e.pairs.match(room, me); ok {
		// The first socket reads partner only after paired is closed.
		me.partner, other.partner = other, me
		close(other.paired)
		close(me.paired)
		other.enqueue(ws.OpText, pairedMsg)
		me.enqueue(ws.OpText, pairedMsg)
	}
	defer func() {
		e.pairs.forget(room, me)
		nc.Close()
		select {
		case <-me.paired:
			me.partner.nc.Close()
		default:
		}
	}()
	rd := ws.NewReader(nc, early, 1<<20)
	defer rd.Close()
	for {
		op, p, err := rd.Next()
		if err != nil {
			return
		}
		switch op {
		case ws.OpText, ws.OpBinary:
			select {
			case <-me.paired:
				me.partner.enqueue(op, p)
			default: // nobody to relay to yet
			}
		case ws.OpPing:
			me.enqueue(ws.OpPong, p)
		case ws.OpClose:
			return
		}
	}
}
