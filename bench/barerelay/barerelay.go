// Package barerelay holds the bare relays duet's benchmarks compare
// against: the least a WebSocket signaling relay can do. Two sockets that
// connect to /ws?room=R are paired and told {"paired":true}; after that
// every message one sends is written to the other as it is, with no
// parsing, validation, limits or liveness.
//
// Engine is the practical ceiling for duet: the same socket engine duet
// uses (internal/ws's Conn: sockets parked in a poller while idle, pooled
// read buffers, one batched write per burst) with no signaling logic above
// it, so duet/Engine is the cost of the protocol.
// Gorilla is the plainest relay a Go developer would write with
// github.com/gorilla/websocket.
package barerelay

import (
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
type Engine struct {
	eng   *ws.Engine
	pairs pairer[*esock]
}

// NewEngine returns the relay on duet's socket engine: ws.Conn with its
// poller, pooled buffers and batched writes, and no limits worth the name
// (a 1 MiB message, a 64 MiB send queue, pings once an hour). Close it to
// stop the engine's goroutines.
func NewEngine() *Engine {
	return &Engine{eng: ws.NewEngine(ws.Options{
		MaxMessageBytes: 1 << 20,
		SendQueueBytes:  64 << 20,
		PingInterval:    time.Hour,
		IdleTimeout:     2 * time.Hour,
		WriteTimeout:    10 * time.Second,
	})}
}

// Close drops every socket and stops the engine.
func (e *Engine) Close() { e.eng.Close() }

// esock is one relayed socket.
type esock struct {
	ws.Conn
	e       *Engine
	room    string
	mu      sync.Mutex
	partner *esock
}

func (s *esock) other() *esock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.partner
}

// Message relays p to the partner as it is (as a text frame; the
// benchmarks send only text).
func (s *esock) Message(_ ws.Opcode, p []byte, _ time.Time) {
	if o := s.other(); o != nil {
		o.Send(p)
	}
}

// Violation implements ws.Handler.
func (s *esock) Violation(*ws.CloseError) {}

// Closed drops the partner too.
func (s *esock) Closed(ws.Cause) {
	s.e.pairs.forget(s.room, s)
	if o := s.other(); o != nil {
		o.Drop(ws.CausePeerClosed)
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
	me := &esock{e: e, room: room}
	other, paired := e.pairs.match(room, me)
	if paired {
		// Both know their partner before either can read.
		other.mu.Lock()
		other.partner = me
		other.mu.Unlock()
		me.partner = other
	}
	me.Start(e.eng, nc, early, me)
	if paired {
		other.Send(pairedMsg)
		me.Send(pairedMsg)
	}
}
