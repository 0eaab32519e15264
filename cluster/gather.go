package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

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

// Gather implements hub.Gatherer.
func (c *Cluster) Gather(ctx context.Context, topic string, req []byte) ([][]byte, int, error) {
	if !validTopic(topic) {
		return nil, 0, errBadTopic
	}
	now := time.Now()
	expected := c.live.count(now) - 1
	settled := c.live.settled(now)
	if expected == 0 && settled {
		return nil, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, opsGather)
	defer cancel()
	inbox := c.nc.NewRespInbox()
	ch := make(chan *nats.Msg, 64)
	sub, err := c.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, expected, err
	}
	defer sub.Unsubscribe()
	msg := nats.NewMsg(gatherSubject(topic))
	msg.Reply = inbox
	msg.Header.Set("Duet-From", c.inc)
	msg.Data = req
	if err := c.nc.PublishMsg(msg); err != nil {
		return nil, expected, err
	}
	seen := map[string]bool{}
	var out [][]byte
	for !settled || len(seen) < expected {
		select {
		case m := <-ch:
			var rep gatherReply
			if json.Unmarshal(m.Data, &rep) != nil || rep.Node == c.inc || seen[rep.Node] {
				continue
			}
			seen[rep.Node] = true
			out = append(out, rep.Data)
		case <-ctx.Done():
			return out, max(expected, len(seen)), nil
		}
	}
	return out, max(expected, len(seen)), nil
}

// Answer implements hub.Gatherer. The subscription lasts as long as the
// node's NATS connection.
func (c *Cluster) Answer(topic string, h func(req []byte) []byte) error {
	if !validTopic(topic) {
		return errBadTopic
	}
	_, err := c.nc.Subscribe(gatherSubject(topic), func(m *nats.Msg) {
		if m.Reply == "" || m.Header.Get("Duet-From") == c.inc {
			return
		}
		c.spawn(func() {
			data := h(m.Data)
			if data == nil {
				return
			}
			if b, err := json.Marshal(gatherReply{Node: c.inc, Data: data}); err == nil {
				c.nc.Publish(m.Reply, b)
			}
		})
	})
	return err
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
