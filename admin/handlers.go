package admin

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/quality"
	"github.com/duet-rtc/duet/webhook"
)

// Listing limits: a page of rooms is at most maxLimit, defaultLimit
// unless ?limit= says otherwise.
const (
	defaultLimit = 1000
	maxLimit     = 10000
	// opTimeout bounds one request's work on the backend.
	opTimeout = 10 * time.Second
)

// Room is a room in the API.
type Room struct {
	App   string `json:"app"`
	Room  string `json:"room"`
	State string `json:"state"` // "waiting" (one member) or "call" (two or more)
	// MaxPeers is a mesh room's limit (docs/protocol.md, Mesh rooms);
	// absent for a room of two.
	MaxPeers int `json:"maxPeers,omitempty"`
	// Members, oldest first: the first made (or will make) the offer.
	Members        []webhook.Member `json:"members"`
	CallStartedAt  *time.Time       `json:"callStartedAt,omitempty"`
	CallDurationMs *int64           `json:"callDurationMs,omitempty"`
	// Quality is the live quality of the members that send reports
	// (duet's SDKs), by member id.
	Quality map[string]quality.Live `json:"quality,omitempty"`
}

// Coverage says which nodes a listing covers.
type Coverage struct {
	// Partial is true when a live node did not answer in time: its
	// members are missing.
	Partial       bool `json:"partial"`
	ExpectedNodes int  `json:"expectedNodes"`
	AnsweredNodes int  `json:"answeredNodes"`
}

func coverage(s hub.Snapshot) Coverage {
	return Coverage{Partial: s.Partial, ExpectedNodes: s.Expected, AnsweredNodes: len(s.Nodes)}
}

func (a *API) room(w http.ResponseWriter, r *http.Request) {
	k, ok := key(w, r)
	if !ok {
		return
	}
	snap, ok := a.snapshot(w, r, hub.Filter{App: k.App, Stream: k.Stream})
	if !ok {
		return
	}
	if len(snap.Rooms) == 0 {
		writeError(w, http.StatusNotFound, "no such room")
		return
	}
	out := []Room{a.roomOf(snap.Rooms[0])}
	a.addQuality(r.Context(), out)
	writeJSON(w, http.StatusOK, RoomResponse{out[0], coverage(snap)})
}

func (a *API) rooms(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if app == "" {
		app = r.URL.Query().Get("app")
	}
	if app != "" && !protocol.ValidApp(app) {
		writeError(w, http.StatusBadRequest, "invalid app name")
		return
	}
	limit := defaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(maxLimit))
			return
		}
		limit = n
	}
	snap, ok := a.snapshot(w, r, hub.Filter{App: app, Limit: limit})
	if !ok {
		return
	}
	out := make([]Room, 0, len(snap.Rooms))
	for _, ri := range snap.Rooms {
		out = append(out, a.roomOf(ri))
	}
	a.addQuality(r.Context(), out)
	writeJSON(w, http.StatusOK, RoomsResponse{out, snap.Truncated, coverage(snap)})
}

// App counts one app's rooms.
type App struct {
	App     string `json:"app"`
	Rooms   int    `json:"rooms"`
	Calls   int    `json:"calls"`
	Members int    `json:"members"`
}

func (a *API) apps(w http.ResponseWriter, r *http.Request) {
	snap, ok := a.snapshot(w, r, hub.Filter{})
	if !ok {
		return
	}
	by := map[string]*App{}
	for _, ri := range snap.Rooms {
		ap := by[ri.Key.App]
		if ap == nil {
			ap = &App{App: ri.Key.App}
			by[ri.Key.App] = ap
		}
		ap.Rooms++
		ap.Members += len(ri.Members)
		if len(ri.Members) >= 2 {
			ap.Calls++
		}
	}
	out := make([]App, 0, len(by))
	for _, ap := range by {
		out = append(out, *ap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].App < out[j].App })
	writeJSON(w, http.StatusOK, AppsResponse{out, coverage(snap)})
}

func (a *API) endRoom(w http.ResponseWriter, r *http.Request) {
	k, ok := key(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	n, err := a.o.Rooms.EndRoom(ctx, k, hub.ReasonKicked)
	if err != nil && n == 0 {
		a.fail(w, err)
		return
	}
	a.log.Info("admin ended a room", "app", k.App, "room", k.Stream, "removed", n, "remote", r.RemoteAddr)
	if err != nil { // some members removed, not all
		writeJSON(w, http.StatusServiceUnavailable, Removed{Removed: n, Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, Removed{Removed: n})
}

func (a *API) kick(w http.ResponseWriter, r *http.Request) {
	k, ok := key(w, r)
	if !ok {
		return
	}
	member := r.PathValue("member")
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	if err := a.o.Rooms.Kick(ctx, k, member, hub.ReasonKicked); err != nil {
		a.fail(w, err)
		return
	}
	a.log.Info("admin removed a member", "app", k.App, "room", k.Stream, "member", member, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, Removed{Removed: 1})
}

// Node is one node in the stats.
type Node struct {
	ID            string    `json:"id"`
	Version       string    `json:"version,omitempty"`
	StartedAt     time.Time `json:"startedAt"`
	UptimeSeconds int64     `json:"uptimeSeconds"`
	Connections   int       `json:"connections"`
	Rooms         int       `json:"rooms"`
	Members       int       `json:"members"`
}

// Totals sum the stats over the nodes that answered. Rooms and calls are
// counted once even when their members are on two nodes.
type Totals struct {
	Nodes       int `json:"nodes"`
	Connections int `json:"connections"`
	Rooms       int `json:"rooms"`
	Calls       int `json:"calls"`
	Members     int `json:"members"`
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	snap, ok := a.snapshot(w, r, hub.Filter{})
	if !ok {
		return
	}
	now := a.o.Now()
	nodes := make([]Node, 0, len(snap.Nodes))
	var t Totals
	for _, n := range snap.Nodes {
		nd := Node{ID: n.ID, Version: n.Version, StartedAt: n.Started.UTC(), Connections: n.Connections, Rooms: n.Rooms, Members: n.Members}
		if !n.Started.IsZero() {
			nd.UptimeSeconds = int64(now.Sub(n.Started).Seconds())
		}
		nodes = append(nodes, nd)
		t.Connections += n.Connections
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	t.Nodes = len(nodes)
	for _, ri := range snap.Rooms {
		t.Rooms++
		t.Members += len(ri.Members)
		if len(ri.Members) >= 2 {
			t.Calls++
		}
	}
	writeJSON(w, http.StatusOK, StatsResponse{nodes, t, coverage(snap)})
}

func (a *API) roomOf(ri hub.RoomInfo) Room {
	out := Room{App: ri.Key.App, Room: ri.Key.Stream, State: "waiting", MaxPeers: ri.MaxPeers, Members: make([]webhook.Member, 0, len(ri.Members))}
	for _, m := range ri.Members {
		out.Members = append(out.Members, webhook.MemberOf(m))
	}
	if len(ri.Members) >= 2 {
		out.State = "call"
		if !ri.CallStart.IsZero() {
			t := ri.CallStart.UTC()
			d := a.o.Now().Sub(ri.CallStart).Milliseconds()
			out.CallStartedAt, out.CallDurationMs = &t, &d
		}
	}
	return out
}

// key reads and checks {app} and {room}.
func key(w http.ResponseWriter, r *http.Request) (hub.Key, bool) {
	k := hub.Key{App: r.PathValue("app"), Stream: r.PathValue("room")}
	if !protocol.ValidApp(k.App) || protocol.ValidateStreamID(k.Stream) != nil {
		writeError(w, http.StatusBadRequest, "invalid app or room name")
		return k, false
	}
	return k, true
}

func (a *API) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, hub.ErrNoSuchRoom):
		writeError(w, http.StatusNotFound, "no such room")
	case errors.Is(err, hub.ErrNoSuchMember):
		writeError(w, http.StatusNotFound, "no such member in this room")
	default:
		a.log.Warn("admin request failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, err.Error())
	}
}

// snapshot lists the rooms f selects, within opTimeout; when that fails it
// has answered the request and returns false.
func (a *API) snapshot(w http.ResponseWriter, r *http.Request, f hub.Filter) (hub.Snapshot, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	snap, err := a.o.Rooms.Snapshot(ctx, f)
	if err != nil {
		a.fail(w, err)
		return snap, false
	}
	return snap, true
}
