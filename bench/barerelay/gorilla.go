package barerelay

import (
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

// Gorilla is the bare relay written with github.com/gorilla/websocket in the
// plainest style: a reader goroutine per socket writing each message
// straight to its partner, one write per message.
type Gorilla struct {
	up    websocket.Upgrader
	pairs pairer[*gsock]
}

type gsock struct {
	c       *websocket.Conn
	wmu     sync.Mutex
	partner *gsock
	paired  chan struct{}
}

// NewGorilla returns the gorilla/websocket relay.
func NewGorilla() *Gorilla {
	return &Gorilla{up: websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096,
		CheckOrigin: func(*http.Request) bool { return true }}}
}

func (s *gsock) write(p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.c.WriteMessage(websocket.TextMessage, p)
}

// ServeHTTP pairs and relays one socket.
func (g *Gorilla) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	if room == "" {
		http.Error(w, "room required", http.StatusBadRequest)
		return
	}
	c, err := g.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	me := &gsock{c: c, paired: make(chan struct{})}
	if other, ok := g.pairs.match(room, me); ok {
		me.partner, other.partner = other, me
		close(other.paired)
		close(me.paired)
		_ = other.write(pairedMsg)
		_ = me.write(pairedMsg)
	}
	defer func() {
		g.pairs.forget(room, me)
		c.Close()
		select {
		case <-me.paired:
			me.partner.c.Close()
		default:
		}
	}()
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		select {
		case <-me.paired:
			if me.partner.write(p) != nil {
				return
			}
		default: // nobody to relay to yet
		}
	}
}
