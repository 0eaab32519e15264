package ws

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrHandshake is returned by Upgrade for a request that is not a valid
// WebSocket handshake; the HTTP error has already been written.
var ErrHandshake = errors.New("websocket: bad handshake")

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Upgrade validates the handshake request, takes the connection over from
// net/http and writes the 101 response. It returns the connection and any
// bytes the client sent after its request that net/http had already read.
func Upgrade(w http.ResponseWriter, r *http.Request, timeout time.Duration) (net.Conn, []byte, error) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "a WebSocket handshake is a GET request", http.StatusMethodNotAllowed)
		return nil, nil, ErrHandshake
	}
	if !r.ProtoAtLeast(1, 1) { // RFC 6455 4.1: HTTP/1.1 or later
		http.Error(w, "a WebSocket handshake needs HTTP/1.1", http.StatusBadRequest)
		return nil, nil, ErrHandshake
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		http.Error(w, "expected a WebSocket upgrade", http.StatusBadRequest)
		return nil, nil, ErrHandshake
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version", http.StatusUpgradeRequired)
		return nil, nil, ErrHandshake
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		http.Error(w, "bad Sec-WebSocket-Key", http.StatusBadRequest)
		return nil, nil, ErrHandshake
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be upgraded", http.StatusInternalServerError)
		return nil, nil, ErrHandshake
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ = brw.Reader.Peek(n)
		early = append([]byte(nil), early...)
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		AcceptKey(key) + "\r\n\r\n"
	conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte(resp)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	return conn, early, nil
}

// AcceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
