package cluster

import (
	"time"

	"github.com/duet-rtc/duet/cluster/link"
	"github.com/duet-rtc/duet/hub"
)

// Frames and room transitions for another node travel on a link from
// this incarnation to that one (package link): numbered, held until
// acknowledged, sent again, delivered once and in order. The cluster gives
// the links its NATS connections as their net, and hears of the frames a
// link had to drop so that their senders get relayFailed.

// sender tags a relayed frame on a link: whom to tell if it is dropped.
// The zero sender (a room transition) tells nobody.
type sender struct {
	m *member
	k hub.Key
}

// linkNet is the links' net: messages on the destination's data subject
// (the data connection), acknowledgements on its ack subject.
type linkNet struct{ c *Cluster }

func (n linkNet) Publish(to string, b []byte)    { n.c.data.Publish(dataSubject(to), b) }
func (n linkNet) PublishAck(to string, b []byte) { n.c.ctl.Publish(ackSubject(to), b) }
func (n linkNet) Up() bool                       { return n.c.connected() }

func (c *Cluster) newLinks() {
	c.out = link.NewOut(linkNet{c}, link.Options[sender]{
		Self: c.inc, Buffer: c.opt.RelayBuffer, Hold: c.opt.RelayHold,
		Gone: func(to string) (bool, bool) {
			return c.live.Gone(to), !c.live.Final(to)
		},
		Dropped: c.linkDropped,
		Resent:  func(n int) { c.met.resent.Add(float64(n)) },
	})
	c.in = link.NewIn(c.inc, linkNet{c})
}

// linkDropped tells the senders of frames a link dropped, once per socket
// and room.
func (c *Cluster) linkDropped(to string, tags []sender, msgs int) {
	told := map[sender]bool{}
	for _, s := range tags {
		if !told[s] {
			told[s] = true
			relayFailed(s.m, s.k)
		}
	}
	c.met.relayDropped.Add(float64(len(tags)))
	c.log.Warn("frames held for a node were dropped (past the bounds, or the node is gone); senders told relayFailed",
		"to", to, "frames", len(tags), "messages", msgs, "senders", len(told))
}

// revived tells the senders of frames that a link to inc dropped when
// inc was declared dead, and that are still paired with its members.
func (c *Cluster) revived(inc string) {
	c.out.Revived(inc, func(s sender) bool { return nodeOf(s.m.partnerOf(s.k)) == inc })
}

// onAck handles an acknowledgement of frames this node sent.
func (c *Cluster) onAck(m busMsg) { c.out.Ack(m.Data) }

// linkLoop sends leftover acknowledgements, resends what stalled and
// applies the bounds of what is held.
func (c *Cluster) linkLoop() {
	t := time.NewTicker(link.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.in.Flush(c.live.Gone)
			c.out.Tick(now)
		}
	}
}
