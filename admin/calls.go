package admin

import (
	"context"
	"net/http"
	"strconv"

	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/quality"
	"github.com/duet-rtc/duet/webhook"
)

// Call records: the listing's limits.
const (
	defaultCalls = 100
	maxCalls     = 1000
)

// Reports is what the API shows of duet's quality reports and call
// records (package ops gives it, for every node of a cluster).
type Reports interface {
	// Calls lists the records of the newest calls that f selects,
	// newest first: each is the call's call_ended webhook payload.
	Calls(ctx context.Context, f CallQuery) (CallsResponse, error)
	// Live is the live quality of the given members that send reports,
	// by member id.
	Live(ctx context.Context, members []string) map[string]quality.Live
}

// CallQuery selects call records: by app, by room (with app), at most
// Limit.
type CallQuery struct {
	App, Room string
	Limit     int
}

// CallsResponse answers GET /v1/admin/calls.
type CallsResponse struct {
	// Calls are call_ended payloads, newest first.
	Calls []webhook.Payload `json:"calls"`
	// Truncated: more records match than the limit.
	Truncated bool `json:"truncated"`
	Coverage
}

func (a *API) calls(w http.ResponseWriter, r *http.Request) {
	if a.o.Reports == nil {
		writeError(w, http.StatusNotFound, "call records are off (call_records: 0)")
		return
	}
	q := r.URL.Query()
	f := CallQuery{App: q.Get("app"), Room: q.Get("room"), Limit: defaultCalls}
	if f.App != "" && !protocol.ValidApp(f.App) || f.Room != "" && (f.App == "" || protocol.ValidateStreamID(f.Room) != nil) {
		writeError(w, http.StatusBadRequest, "invalid app or room (a room needs its app)")
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxCalls {
			writeError(w, http.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(maxCalls))
			return
		}
		f.Limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	resp, err := a.o.Reports.Calls(ctx, f)
	if err != nil {
		a.fail(w, err)
		return
	}
	if resp.Calls == nil {
		resp.Calls = []webhook.Payload{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// addQuality adds their members' live quality to rooms in a call.
func (a *API) addQuality(ctx context.Context, rooms []Room) {
	if a.o.Reports == nil {
		return
	}
	var ids []string
	for _, r := range rooms {
		if r.State != "call" {
			continue
		}
		for _, m := range r.Members {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	live := a.o.Reports.Live(ctx, ids)
	for i := range rooms {
		for _, m := range rooms[i].Members {
			if l, ok := live[m.ID]; ok {
				if rooms[i].Quality == nil {
					rooms[i].Quality = map[string]quality.Live{}
				}
				rooms[i].Quality[m.ID] = l
			}
		}
	}
}
