package ops

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/quality"
	"github.com/duet-rtc/duet/webhook"
)

// Gather topics of the admin API's reports on a cluster: each node
// answers with what it holds — the records of the calls it ended, the
// live quality of the members whose sockets it holds.
const (
	topicCalls   = "calls"
	topicQuality = "quality"
)

// maxAnswerBytes keeps a node's answer well within NATS's default 1 MB
// payload limit.
const maxAnswerBytes = 800 << 10

// reports implements admin.Reports for this node and, on a cluster, asks
// the others.
type reports struct {
	rec    *recorder
	gather hub.Gatherer // nil: one node
}

var _ admin.Reports = (*reports)(nil)

// Calls implements admin.Reports.
func (r *reports) Calls(ctx context.Context, q admin.CallQuery) (admin.CallsResponse, error) {
	f := CallFilter{App: q.App, Room: q.Room, Limit: q.Limit}
	calls, more := r.rec.calls.list(f)
	resp := admin.CallsResponse{Coverage: admin.Coverage{ExpectedNodes: 1, AnsweredNodes: 1}}
	if r.gather != nil {
		req, _ := json.Marshal(f)
		answers, expected, err := r.gather.Gather(ctx, topicCalls, req)
		if err != nil {
			return resp, err
		}
		resp.ExpectedNodes += expected
		for _, a := range answers {
			var page callsPage
			if json.Unmarshal(a, &page) != nil {
				continue
			}
			resp.AnsweredNodes++
			calls = append(calls, page.Calls...)
			more = more || page.More
		}
		resp.Partial = resp.AnsweredNodes < resp.ExpectedNodes
	}
	var cut bool
	resp.Calls, cut = newestFirst(calls, q.Limit)
	resp.Truncated = more || cut
	return resp, nil
}

type callsPage struct {
	Calls []webhook.Payload `json:"calls"`
	More  bool              `json:"more"`
}

// answerCalls is a node's answer to another's Calls.
func (r *reports) answerCalls(req []byte) []byte {
	var f CallFilter
	if json.Unmarshal(req, &f) != nil || f.Limit <= 0 {
		return []byte("{}")
	}
	calls, more := r.rec.calls.list(f)
	for {
		b, err := json.Marshal(callsPage{Calls: calls, More: more})
		if err == nil && len(b) <= maxAnswerBytes || len(calls) == 0 {
			return b
		}
		calls, more = calls[:len(calls)/2], true
	}
}

// Live implements admin.Reports.
func (r *reports) Live(ctx context.Context, members []string) map[string]quality.Live {
	t := r.rec.tracker.Load()
	if t == nil {
		return nil
	}
	live := t.Local(members)
	var missing []string
	for _, id := range members {
		if _, ok := live[id]; !ok {
			missing = append(missing, id)
		}
	}
	if r.gather == nil || len(missing) == 0 {
		return live
	}
	req, _ := json.Marshal(missing)
	answers, _, err := r.gather.Gather(ctx, topicQuality, req)
	if err != nil {
		return live
	}
	for _, a := range answers {
		var got map[string]quality.Live
		if json.Unmarshal(a, &got) != nil {
			continue
		}
		for id, l := range got {
			if slices.Contains(missing, id) {
				live[id] = l
			}
		}
	}
	return live
}

// answerQuality is a node's answer to another's Live: the members asked
// for whose sockets it holds.
func (r *reports) answerQuality(req []byte) []byte {
	var ids []string
	t := r.rec.tracker.Load()
	if json.Unmarshal(req, &ids) != nil || t == nil {
		return []byte("{}")
	}
	if ids == nil {
		ids = []string{}
	}
	out := t.Local(ids)
	b, _ := json.Marshal(out)
	if len(b) > maxAnswerBytes { // so many: without their history
		for id, l := range out {
			l.History = nil
			out[id] = l
		}
		b, _ = json.Marshal(out)
	}
	if len(b) > maxAnswerBytes {
		return []byte("{}")
	}
	return b
}
