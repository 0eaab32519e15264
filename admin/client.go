package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client calls the admin API of a duet server (what duet rooms uses).
type Client struct {
	URL  string // base URL, e.g. http://localhost:5080
	Key  string // admin key or admin token
	HTTP *http.Client
}

// Errors the Client maps answers to, for errors.Is.
var (
	ErrUnauthorized = errors.New("admin: the key was refused (401)")
	ErrNotFound     = errors.New("admin: not found (404)")
	// ErrAPIOff: the server answered, but not with its admin API: a duet
	// started without admin_key (and admin_tokens), or not duet at all.
	ErrAPIOff = errors.New("admin: the server has no admin API at /v1/admin/ (start it with admin_key set, e.g. DUET_ADMIN_KEY)")
)

// StatusError is any other answer than 2xx.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("admin: %d: %s", e.Code, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		apiAnswer := json.Unmarshal(body, &e) == nil && e.Error != ""
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return ErrUnauthorized
		case http.StatusNotFound:
			// The admin API says what was not found; a 404 without its
			// JSON comes from a server where the API is not mounted.
			if !apiAnswer {
				return ErrAPIOff
			}
			return fmt.Errorf("%w: %s", ErrNotFound, e.Error)
		}
		if e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	return json.Unmarshal(body, out)
}

func roomPath(app, room string) string {
	return "/v1/admin/apps/" + url.PathEscape(app) + "/rooms/" + url.PathEscape(room)
}

// Apps lists the apps with rooms.
func (c *Client) Apps(ctx context.Context) (AppsResponse, error) {
	var r AppsResponse
	return r, c.do(ctx, http.MethodGet, "/v1/admin/apps", &r)
}

// Rooms lists rooms, of one app when app is set; limit 0 is the server's
// default.
func (c *Client) Rooms(ctx context.Context, app string, limit int) (RoomsResponse, error) {
	q := url.Values{}
	if app != "" {
		q.Set("app", app)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	path := "/v1/admin/rooms"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var r RoomsResponse
	return r, c.do(ctx, http.MethodGet, path, &r)
}

// Room returns one room.
func (c *Client) Room(ctx context.Context, app, room string) (RoomResponse, error) {
	var r RoomResponse
	return r, c.do(ctx, http.MethodGet, roomPath(app, room), &r)
}

// EndRoom removes every member of a room.
func (c *Client) EndRoom(ctx context.Context, app, room string) (Removed, error) {
	var r Removed
	return r, c.do(ctx, http.MethodDelete, roomPath(app, room), &r)
}

// Kick removes one member of a room.
func (c *Client) Kick(ctx context.Context, app, room, member string) error {
	var r Removed
	return c.do(ctx, http.MethodDelete, roomPath(app, room)+"/members/"+url.PathEscape(member), &r)
}

// Stats returns node and cluster statistics.
func (c *Client) Stats(ctx context.Context) (StatsResponse, error) {
	var r StatsResponse
	return r, c.do(ctx, http.MethodGet, "/v1/admin/stats", &r)
}

// Calls lists the records of recent calls, newest first: of app ("" for
// all), of room (with app), at most limit (0: the server's default).
func (c *Client) Calls(ctx context.Context, app, room string, limit int) (CallsResponse, error) {
	v := url.Values{}
	if app != "" {
		v.Set("app", app)
	}
	if room != "" {
		v.Set("room", room)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/admin/calls"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var r CallsResponse
	return r, c.do(ctx, http.MethodGet, path, &r)
}
