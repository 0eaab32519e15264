package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/ops"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

const (
	key       = "admin-key-for-tests-0123456789abcdef"
	tokSecret = "room-token-secret-of-at-least-32-bytes"
	app       = "WebRTCAppEE"
)

// startAdmin runs a real server wired as duet serve wires it, with the
// admin API on.
func startAdmin(t *testing.T, authz *auth.Authorizer, mutate ...func(*config.Config)) *testserver.Server {
	t.Helper()
	cfg := testserver.Config()
	cfg.AdminKey = key
	for _, f := range mutate {
		f(&cfg)
	}
	opts := server.Options{}
	var tokens admin.TokenChecker
	if authz != nil {
		opts.Authorizer, tokens = authz, authz
	}
	x, err := ops.Setup(ops.Options{Config: cfg, Tokens: tokens, NodeID: "node-1", Version: "test"}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	s := testserver.Start(t, cfg, opts)
	x.Attach(s.Server)
	t.Cleanup(func() { x.Close(context.Background()) })
	return s
}

func do(t *testing.T, method, url, authz string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s %s: 401 without WWW-Authenticate: Bearer", method, url)
	}
	return resp.StatusCode
}

var endpoints = []struct{ method, path string }{
	{"GET", "/v1/admin/apps"},
	{"GET", "/v1/admin/rooms"},
	{"GET", "/v1/admin/apps/WebRTCAppEE/rooms"},
	{"GET", "/v1/admin/apps/WebRTCAppEE/rooms/r1"},
	{"DELETE", "/v1/admin/apps/WebRTCAppEE/rooms/r1"},
	{"DELETE", "/v1/admin/apps/WebRTCAppEE/rooms/r1/members/1"},
	{"GET", "/v1/admin/stats"},
	{"GET", "/v1/admin/no-such-endpoint"},
}

// Every endpoint refuses a call without the key, with a wrong key, with
// the key in another scheme or in the URL, and with a token that is not an
// admin token; the key and a signed admin token get in.
func TestAdminRefusesWithoutCredentials(t *testing.T) {
	authz, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(tokSecret))})
	if err != nil {
		t.Fatal(err)
	}
	s := startAdmin(t, authz, func(c *config.Config) { c.AdminTokens = true; c.TokenSecret = tokSecret })
	now := time.Now()
	adminTok, _ := auth.MintAdmin("HS256", "", []byte(tokSecret), now, time.Hour)
	expiredTok, _ := auth.MintAdmin("HS256", "", []byte(tokSecret), now.Add(-2*time.Hour), time.Hour)
	otherTok, _ := auth.MintAdmin("HS256", "", []byte("another-secret-of-at-least-32-bytes!!"), now, time.Hour)
	roomTok, _ := auth.Mint("HS256", "", []byte(tokSecret), app, "r1", "", now, time.Hour, 0)
	refused := map[string]string{
		"no header":      "",
		"wrong key":      "Bearer " + strings.Repeat("x", len(key)),
		"key prefix":     "Bearer " + key[:len(key)-1],
		"key and more":   "Bearer " + key + "x",
		"basic scheme":   "Basic " + key,
		"bare key":       key,
		"empty bearer":   "Bearer ",
		"room token":     "Bearer " + roomTok,
		"expired admin":  "Bearer " + expiredTok,
		"other key's":    "Bearer " + otherTok,
		"garbage token":  "Bearer a.b.c",
		"key in the URL": "",
	}
	for _, e := range endpoints {
		for name, h := range refused {
			url := s.HTTP() + e.path
			if name == "key in the URL" {
				url += "?key=" + key + "&token=" + key
			}
			if code := do(t, e.method, url, h); code != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %d, want 401", e.method, e.path, name, code)
			}
		}
		for name, h := range map[string]string{"key": "Bearer " + key, "lowercase scheme": "bearer " + key, "admin token": "Bearer " + adminTok} {
			if code := do(t, e.method, s.HTTP()+e.path, h); code == http.StatusUnauthorized {
				t.Errorf("%s %s with the %s: refused", e.method, e.path, name)
			}
		}
	}
}

// With no admin key configured the API and the page do not exist.
func TestAdminOffByDefault(t *testing.T) {
	s := startAdmin(t, nil, func(c *config.Config) { c.AdminKey = "" })
	for _, e := range append(endpoints, struct{ method, path string }{"GET", "/admin"}) {
		if code := do(t, e.method, s.HTTP()+e.path, "Bearer "+key); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s with admin off: %d", e.method, e.path, code)
		}
	}
}

func client(s *testserver.Server) *admin.Client { return &admin.Client{URL: s.HTTP(), Key: key} }

// expectStop reads a stop and checks its reason.
func expectStop(t *testing.T, c *wstest.Client, room, reason string) {
	t.Helper()
	m := c.Expect("stop", "")
	if m.Str("streamId") != room || m.Str("reason") != reason {
		t.Fatalf("got %v, want stop for %s with reason %q", m, room, reason)
	}
}

func expectLeaved(t *testing.T, c *wstest.Client, room, reason string) {
	t.Helper()
	m := c.Expect("notification", "leaved")
	if m.Str("streamId") != room || m.Str("reason") != reason {
		t.Fatalf("got %v, want leaved for %s with reason %q", m, room, reason)
	}
}

// The API lists what real sockets did, and its kicks and room ends reach
// them: stop (and leaved) with reason kicked.
func TestAdminListsAndSteersRooms(t *testing.T) {
	s := startAdmin(t, nil)
	ctx := context.Background()
	c := client(s)
	a, b := wstest.Dial(t, s.URL(app)), wstest.Dial(t, s.URL(app))
	wstest.Pair(a, b, "r1")
	solo := wstest.Dial(t, s.URL("LiveApp"))
	wstest.Join(solo, "r2")
	solo.Expect("notification", "joined")

	apps, err := c.Apps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps.Apps) != 2 || apps.Apps[0] != (admin.App{App: "LiveApp", Rooms: 1, Members: 1}) ||
		apps.Apps[1] != (admin.App{App: app, Rooms: 1, Calls: 1, Members: 2}) || apps.Partial {
		t.Fatalf("apps %+v", apps)
	}
	rooms, err := c.Rooms(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms.Rooms) != 2 || rooms.Truncated || rooms.ExpectedNodes != 1 || rooms.AnsweredNodes != 1 {
		t.Fatalf("rooms %+v", rooms)
	}
	if rooms, _ := c.Rooms(ctx, app, 0); len(rooms.Rooms) != 1 || rooms.Rooms[0].Room != "r1" {
		t.Fatalf("rooms of %s: %+v", app, rooms)
	}
	if rooms, _ := c.Rooms(ctx, "", 1); len(rooms.Rooms) != 1 || !rooms.Truncated {
		t.Fatalf("limited rooms: %+v", rooms)
	}
	r1, err := c.Room(ctx, app, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if r1.State != "call" || len(r1.Members) != 2 || r1.CallStartedAt == nil || r1.CallDurationMs == nil {
		t.Fatalf("r1 %+v", r1)
	}
	for _, m := range r1.Members {
		if m.Node != "node-1" || !strings.HasPrefix(m.Remote, "127.0.0.1:") || m.JoinedAt == nil || time.Since(*m.JoinedAt) > time.Minute || m.ID == "" {
			t.Fatalf("member %+v", m)
		}
	}
	if !r1.Members[0].JoinedAt.Before(*r1.Members[1].JoinedAt) {
		t.Fatalf("members not oldest first: %+v", r1.Members)
	}
	if _, err := c.Room(ctx, app, "nope"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("unknown room: %v", err)
	}
	if _, err := c.Room(ctx, "bad app!", "r1"); err == nil {
		t.Fatal("invalid app accepted")
	}
	if err := c.Kick(ctx, app, "r1", "no-such"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("kick of an unknown member: %v", err)
	}

	// Kick b (the second member): it gets stop and leaved, a gets stop.
	if err := c.Kick(ctx, app, "r1", r1.Members[1].ID); err != nil {
		t.Fatal(err)
	}
	expectStop(t, b, "r1", "kicked")
	expectLeaved(t, b, "r1", "kicked")
	expectStop(t, a, "r1", "kicked")
	a.Quiet()
	b.Quiet()
	if r, _ := c.Room(ctx, app, "r1"); r.State != "waiting" || len(r.Members) != 1 || r.Members[0].ID != r1.Members[0].ID {
		t.Fatalf("after kick %+v", r)
	}
	// b is out of the room: its relays are refused, and it may join again.
	b.Send(wstest.Msg{"command": "peerMessageCommand", "streamId": "r1", "definition": "x", "data": "y"})
	b.Expect("error", "no_peer_associated_before")
	wstest.Join(b, "r1")
	b.Expect("notification", "joined")
	a.Expect("start", "")

	// End the room: each member gets one stop and leaved.
	res, err := c.EndRoom(ctx, app, "r1")
	if err != nil || res.Removed != 2 {
		t.Fatalf("end room: %+v, %v", res, err)
	}
	for _, x := range []*wstest.Client{a, b} {
		expectStop(t, x, "r1", "kicked")
		expectLeaved(t, x, "r1", "kicked")
		x.Quiet()
	}
	if _, err := c.Room(ctx, app, "r1"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("ended room still there: %v", err)
	}
	if _, err := c.EndRoom(ctx, app, "r1"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("end of an ended room: %v", err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].ID != "node-1" || st.Nodes[0].Version != "test" || st.Nodes[0].Connections != 3 ||
		st.Totals != (admin.Totals{Nodes: 1, Connections: 3, Rooms: 1, Calls: 0, Members: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

// A member kicked from a room that needs tokens cannot come back without
// one, not even with the repeated join a socket already in a room may send
// without a check.
func TestKickedMemberNeedsATokenAgain(t *testing.T) {
	authz, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(tokSecret))})
	if err != nil {
		t.Fatal(err)
	}
	s := startAdmin(t, authz)
	tok, _ := auth.Mint("HS256", "", []byte(tokSecret), app, "r1", "", time.Now(), time.Hour, 0)
	a := wstest.Dial(t, s.URL(app))
	a.Send(wstest.Msg{"command": "join", "streamId": "r1", "token": tok})
	a.Expect("notification", "joined")
	a.Send(wstest.Msg{"command": "join", "streamId": "r1"}) // repeated: not checked again
	a.Expect("notification", "joined")
	r, err := client(s).Room(context.Background(), app, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := client(s).Kick(context.Background(), app, "r1", r.Members[0].ID); err != nil {
		t.Fatal(err)
	}
	expectStop(t, a, "r1", "kicked")
	expectLeaved(t, a, "r1", "kicked")
	a.Send(wstest.Msg{"command": "join", "streamId": "r1"})
	a.Expect("error", "unauthorized_access")
	a.Send(wstest.Msg{"command": "join", "streamId": "r1", "token": tok})
	a.Expect("notification", "joined")
}

// TestAdminShowsMeshRooms: a mesh room is a call from two members on,
// with its limit, and each member's id in it.
func TestAdminShowsMeshRooms(t *testing.T) {
	s := startAdmin(t, nil, func(c *config.Config) { c.MaxPeers = []string{app + "=6"} })
	ctx := context.Background()
	for range 3 {
		x := wstest.Dial(t, s.URL(app))
		x.Send(wstest.Msg{"command": "join", "streamId": "m", "maxPeers": 6})
		x.Expect("notification", "joined")
	}
	r, err := client(s).Room(ctx, app, "m")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != "call" || r.MaxPeers != 6 || len(r.Members) != 3 || r.CallStartedAt == nil {
		t.Fatalf("mesh room %+v", r)
	}
	for i, m := range r.Members {
		if m.Peer != strconv.Itoa(i+1) {
			t.Fatalf("member %d: %+v", i, m)
		}
	}
	stats, err := client(s).Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Totals.Calls != 1 || stats.Totals.Members != 3 {
		t.Fatalf("stats %+v", stats.Totals)
	}
}
