package push

import (
	"context"
	"encoding/json"
	"time"
)

// On a cluster, registrations stay on the node that took them: a send
// asks the other nodes for their devices of its recipients, and a token
// a service refused is forgotten on every node.
const (
	topicLookup = "push-lookup"
	topicForget = "push-forget"
)

// lookupTimeout bounds a lookup on the other nodes.
const lookupTimeout = 2 * time.Second

type lookupReq struct {
	App string   `json:"app"`
	IDs []string `json:"ids"`
}

type forgetReq struct {
	App   string `json:"app"`
	ID    string `json:"id"`
	Token string `json:"token"`
}

// lookup returns the devices of subscribers ids of app, on every node,
// each token once.
func (s *Service) lookup(app string, ids []string) map[string][]Device {
	out := map[string][]Device{}
	seen := map[string]bool{}
	add := func(id string, ds []Device) {
		for _, d := range ds {
			if !seen[d.Token] {
				seen[d.Token] = true
				out[id] = append(out[id], d)
			}
		}
	}
	for _, id := range ids {
		add(id, s.store.get(subKey{app, id}))
	}
	if s.o.Gatherer == nil {
		return out
	}
	req, _ := json.Marshal(lookupReq{App: app, IDs: ids})
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	answers, _, err := s.o.Gatherer.Gather(ctx, topicLookup, req)
	if err != nil {
		s.log.Warn("push: asking the other nodes for registrations failed", "err", err)
	}
	for _, a := range answers {
		var got map[string][]Device
		if json.Unmarshal(a, &got) != nil {
			continue
		}
		for _, id := range ids {
			add(id, got[id])
		}
	}
	return out
}

func (s *Service) answerLookup(req []byte) []byte {
	var r lookupReq
	if json.Unmarshal(req, &r) != nil || len(r.IDs) > maxRecipients {
		return []byte("{}")
	}
	out := map[string][]Device{}
	for _, id := range r.IDs {
		if ds := s.store.get(subKey{r.App, id}); ds != nil {
			out[id] = ds
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// forget removes a dead token here and on the other nodes.
func (s *Service) forget(app, id, token string) {
	s.store.forget(subKey{app, id}, token)
	if s.o.Gatherer == nil {
		return
	}
	req, _ := json.Marshal(forgetReq{App: app, ID: id, Token: token})
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	s.o.Gatherer.Gather(ctx, topicForget, req)
}

func (s *Service) answerForget(req []byte) []byte {
	var r forgetReq
	if json.Unmarshal(req, &r) == nil {
		s.store.forget(subKey{r.App, r.ID}, r.Token)
	}
	return []byte("{}")
}
