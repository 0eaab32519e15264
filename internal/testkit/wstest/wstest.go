// Package wstest is a WebSocket client for tests of duet's protocol: it
// dials a real server, sends messages and checks what comes back, failing
// the test with a clear message when the server does not answer as
// expected. It uses gorilla/websocket, an implementation independent of
// duet's own server side.
package wstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Client is one connected test client.
type Client struct {
	T  testing.TB
	WS *websocket.Conn
}

// Msg is a decoded server message.
type Msg map[string]any

// Str returns field k as a string ("" if absent or not a string).
func (m Msg) Str(k string) string { s, _ := m[k].(string); return s }

// Dial connects to url; the socket is closed when the test ends.
func Dial(t testing.TB, url string) *Client {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (resp %v)", url, err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return &Client{T: t, WS: ws}
}

// Send writes one message; v is a string or []byte (sent as is) or a value
// to encode as JSON.
func (c *Client) Send(v any) {
	c.T.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.T.Fatal(err)
		}
	}
	if err := c.WS.WriteMessage(websocket.TextMessage, b); err != nil {
		c.T.Fatalf("send: %v", err)
	}
}

// Read returns the next message, failing the test after 5 s.
func (c *Client) Read() Msg {
	c.T.Helper()
	m, err := c.TryRead(5 * time.Second)
	if err != nil {
		c.T.Fatalf("read: %v", err)
	}
	return m
}

// TryRead returns the next message or the error that ended the wait.
func (c *Client) TryRead(d time.Duration) (Msg, error) {
	c.WS.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.WS.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m Msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("server sent invalid JSON %q: %w", b, err)
	}
	return m, nil
}

// Expect reads the next message and checks its command and, when
// definition is not empty, its definition.
func (c *Client) Expect(command, definition string) Msg {
	c.T.Helper()
	m := c.Read()
	if m.Str("command") != command || (definition != "" && m.Str("definition") != definition) {
		c.T.Fatalf("got %v, want command %q definition %q", m, command, definition)
	}
	return m
}

// Quiet checks that nothing else is queued for c: an application ping is
// answered in order, so the next message must be its pong.
func (c *Client) Quiet() {
	c.T.Helper()
	c.Send(Msg{"command": "ping"})
	c.Expect("pong", "")
}

// Closed waits for the server to close the socket and returns the close
// frame's code and text (1006 when it dropped without one).
func (c *Client) Closed() (int, string) {
	c.T.Helper()
	c.WS.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.WS.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if strings.Contains(err.Error(), "timeout") {
			c.T.Fatalf("socket not closed: %v", err)
		}
		return websocket.CloseAbnormalClosure, err.Error()
	}
}

// KeepReading makes c a live but passive client: it answers pings and
// discards messages in the background until the socket closes.
func (c *Client) KeepReading() {
	go func() {
		for {
			c.WS.SetReadDeadline(time.Time{})
			if _, _, err := c.WS.ReadMessage(); err != nil {
				return
			}
		}
	}()
}

// Collect reads messages in the background (which keeps the client
// answering pings) and delivers them on the channel, closed with the socket.
func (c *Client) Collect() <-chan Msg {
	ch := make(chan Msg, 64)
	go func() {
		defer close(ch)
		for {
			m, err := c.TryRead(30 * time.Second)
			if err != nil {
				return
			}
			ch <- m
		}
	}()
	return ch
}

// Next returns the next message from a Collect channel within d.
func Next(t testing.TB, ch <-chan Msg, d time.Duration) Msg {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("socket closed")
		}
		return m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
	}
	return nil
}

// Join sends a join for room.
func Join(c *Client, room string) { c.Send(Msg{"command": "join", "streamId": room}) }

// Pair joins a then b to room and consumes the notifications: a waited,
// so a gets start.
func Pair(a, b *Client, room string) {
	a.T.Helper()
	Join(a, room)
	a.Expect("notification", "joined")
	Join(b, room)
	b.Expect("notification", "joined")
	a.Expect("start", "")
}

// Eventually polls cond until it holds, failing the test after 10 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // the polling interval of a condition wait
	}
}

// HTTPGet fetches url and returns the status and body.
func HTTPGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
