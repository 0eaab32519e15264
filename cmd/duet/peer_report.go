package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/client/transfer"
)

// reporter tells the user what duet peer does, on stderr: lines of text,
// a progress bar when stderr is a terminal, or with --json one JSON object
// per line: {"time":…,"event":…, …}.
type reporter struct {
	w    io.Writer
	json bool
	tty  bool

	mu       sync.Mutex
	start    time.Time // of the transfer, for the rate
	last     time.Time // last progress output
	barShown bool
}

func newReporter(w io.Writer, asJSON, tty bool) *reporter {
	return &reporter{w: w, json: asJSON, tty: tty && !asJSON}
}

// event reports one event: human is the text line ("" for none), fields go
// into the JSON object.
func (r *reporter) event(kind, human string, fields map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eventLocked(kind, human, fields)
}

func (r *reporter) eventLocked(kind, human string, fields map[string]any) {
	if r.json {
		obj := map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "event": kind}
		for k, v := range fields {
			obj[k] = v
		}
		b, _ := json.Marshal(obj)
		r.w.Write(append(b, '\n'))
		return
	}
	if human == "" {
		return
	}
	if r.barShown {
		io.WriteString(r.w, "\r\033[K")
	}
	fmt.Fprintf(r.w, "duet peer: %s\n", human)
	r.barShown = false
}

func (r *reporter) peerEvent(e client.PeerEvent) {
	f := map[string]any{"room": e.Room}
	if e.Peer != "" {
		f["peer"] = e.Peer // a mesh room's member
	}
	if e.Err != nil {
		f["error"] = e.Err.Error()
	}
	switch e.Kind {
	case client.EventJoined:
		f["rejoin"] = e.Rejoin
		f["resumed"] = e.Resumed
		human := ""
		switch {
		case e.Resumed:
			human = "signaling reconnected, seat in room " + e.Room + " taken back"
		case e.Rejoin:
			human = "signaling reconnected, rejoined room " + e.Room
		}
		r.event("joined", human, f)
	case client.EventRecognized:
		r.event("recognized", "the peer is back after the server lost its state: connection kept", f)
	case client.EventPeerReconnecting:
		r.event("peer_reconnecting", "the peer's signaling connection was lost; it is reconnecting", f)
	case client.EventPeerReconnected:
		r.event("peer_reconnected", "", f)
	case client.EventPeerAway:
		f["reason"] = e.Reason
		r.event("peer_away", "the server lost the peer ("+e.Reason+") but the connection is up: kept", f)
	case client.EventConnectionState:
		f["state"] = e.State
		r.event("connection_state", "", f)
	case client.EventRenegotiating:
		f["reason"] = e.Reason
		human := ""
		if e.Reason != "" {
			human = e.Reason
		}
		r.event("renegotiating", human, f)
	case client.EventCollision:
		f["reason"] = e.Reason
		r.event("offer_collision", "", f)
	case client.EventNegotiating:
		f["offerer"] = e.Offerer
		r.event("negotiating", "", f)
	case client.EventConnected:
		f["offerer"] = e.Offerer
		r.event("connected", "connected to the peer", f)
	case client.EventSessionEnd:
		human := ""
		switch {
		case errors.Is(e.Err, client.ErrPeerLeft):
			human = "the peer left"
		case !errors.Is(e.Err, client.ErrClosed) && !errors.Is(e.Err, client.ErrReplaced):
			human = fmt.Sprintf("connection ended: %v", e.Err)
		}
		r.event("session_end", human, f)
	case client.EventReconnect:
		r.event("reconnecting", fmt.Sprintf("signaling connection lost (%v), reconnecting; the connection to the peer stays", e.Err), f)
	case client.EventServerError:
		r.event("server_error", "", f)
	case client.EventFailed:
		r.event("failed", "", f)
	}
}

// exit reports the end and returns code.
func (r *reporter) exit(code int, err error) int {
	f := map[string]any{"code": code}
	human := ""
	if err != nil {
		f["error"] = err.Error()
		var se *client.ServerError
		if errors.As(err, &se) {
			f["definition"] = string(se.Definition)
		}
		human = err.Error()
		switch code {
		case exitRoomFull:
			human = "the room is full (" + human + ")"
		case exitTimeout:
			human = "no peer connected in time"
		case exitInterrupted:
			human = "interrupted"
		}
	}
	r.event("exit", human, f)
	return code
}

// progress shows a transfer's progress: a bar on a terminal (10 times a
// second), a JSON event a second with --json, nothing otherwise.
func (r *reporter) progress(done, total int64) {
	if !r.tty && !r.json {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.start.IsZero() {
		r.start = now
	}
	every := 100 * time.Millisecond
	if r.json {
		every = time.Second
	}
	if now.Sub(r.last) < every && done < total {
		return
	}
	r.last = now
	rate := float64(done) / max(now.Sub(r.start).Seconds(), 1e-3)
	if r.json {
		r.eventLocked("progress", "", map[string]any{"bytes": done, "total": total, "bytes_per_second": int64(rate)})
		return
	}
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	n := int(frac * width)
	fmt.Fprintf(r.w, "\r[%s%s] %3.0f%% %s / %s  %s/s ", strings.Repeat("=", n), strings.Repeat(" ", width-n),
		frac*100, mib(done), mib(total), mib(int64(rate)))
	r.barShown = true
}

// progressDone ends the progress bar's line.
func (r *reporter) progressDone() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.barShown {
		io.WriteString(r.w, "\n")
		r.barShown = false
	}
}

// transferred reports a verified file.
func (r *reporter) transferred(verb string, res transfer.Result) {
	secs := res.Duration.Seconds()
	r.event(verb, fmt.Sprintf("%s %s: %s in %.2fs (%s/s), sha256 %s verified", verb, res.Name, mib(res.Size), secs,
		mib(int64(float64(res.Size)/max(secs, 1e-3))), res.SHA256),
		map[string]any{"name": res.Name, "size": res.Size, "sha256": res.SHA256, "seconds": secs})
}

func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
