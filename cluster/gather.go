package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/duet-rtc/duet/hub"
)

// The side services' questions (call records, live quality, push
// registrations) travel like operators' listings: on core NATS, to every
// node, answered by those that hear them within opsGather. Each answer
// names its node, so that a node's answer counts once.

func gatherSubject(topic string) string { return "duet.gather." + topic }

// gatherReply is one node's answer.
type gatherReply struct {
	Node string          `json:"node"` // incarnation
	Data json.RawMessage `json:"data"`
}

// errBadTopic: a topic must be a single NATS subject token.
var errBadTopic = errors.New("cluster: a gather topic is one subject token")

var _ hub.Gatherer = (*Cluster)(nil)

// Gather implements hub.Gatherer. A question carries its sender's
// incarnation before a newline, so that the sender does not answer itself.
func (c *Cluster) Gather(ctx context.Context, topic string, req []byte) ([][]byte, int, error) {
	if !validTopic(topic) {
		return nil, 0, errBadTopic
	}
	now := time.Now()
	expected := c.live.Count(now) - 1
	settled := c.live.Settled(now)
	if expected == 0 && settled {
		return nil, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, opsGather)
	defer cancel()
	q := append(append([]byte(c.inc), '\n'), req...)
	seen := map[string]bool{}
	var out [][]byte
	err := c.ctl.Gather(ctx, gatherSubject(topic), q, func(data []byte) bool {
		var rep gatherReply
		if json.Unmarshal(data, &rep) == nil && rep.Node != c.inc && !seen[rep.Node] {
			seen[rep.Node] = true
			out = append(out, rep.Data)
		}
		return !settled || len(seen) < expected
	})
	if err != nil {
		return nil, expected, err
	}
	return out, max(expected, len(seen)), nil
}

// Answer implements hub.Gatherer. The subscription lasts as long as the
// node's NATS connection.
func (c *Cluster) Answer(topic string, h func(req []byte) []byte) error {
	if !validTopic(topic) {
		return errBadTopic
	}
	return c.ctl.Subscribe(gatherSubject(topic), func(m busMsg) {
		from, req, ok := bytes.Cut(m.Data, []byte{'\n'})
		if m.respond == nil || !ok || string(from) == c.inc {
			return
		}
		req = bytes.Clone(req)
		c.spawn(func() {
			data := h(req)
			if data == nil {
				return
			}
			if b, err := json.Marshal(gatherReply{Node: c.inc, Data: data}); err == nil {
				m.Respond(b)
			}
		})
	})
}

func validTopic(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		ch := t[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}
