package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/duet-rtc/duet/cluster/kv"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/fakeclock"
	"github.com/duet-rtc/duet/protocol"
)

const fuzzGrace = 10 * time.Second

// fuzzConn stands in for a socket: it records frames, answers probes as
// told, and is dropped by Kill.
type fuzzConn struct {
	mu     sync.Mutex
	frames []string
	alive  bool
	killed bool
}

func (f *fuzzConn) Send(b []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, string(b))
	return !f.killed
}

func (f *fuzzConn) Probe(context.Context) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive && !f.killed
}

func (f *fuzzConn) Kill(string) {
	f.mu.Lock()
	f.killed = true
	f.mu.Unlock()
}

func (f *fuzzConn) isKilled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.killed
}

// lastToken is the resume token of the last joined f got, if any.
func (f *fuzzConn) lastToken(t *testing.T) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.frames) - 1; i >= 0; i-- {
		var m map[string]any
		if err := json.Unmarshal([]byte(f.frames[i]), &m); err != nil {
			continue // a relayed test frame
		}
		if m["definition"] == "joined" {
			tok, _ := m["resumeToken"].(string)
			return tok
		}
	}
	t.Fatal("no joined")
	return ""
}

// memCluster is n nodes on one in-process bus and one in-memory store,
// with a manual clock: no NATS, no wall-clock waits.
type memCluster struct {
	t     *testing.T
	net   *memNet
	store *kv.Memory
	clock *fakeclock.Clock
	caps  *hub.HoldCaps
	nodes []*Cluster
}

func startMemCluster(t *testing.T, n int) *memCluster {
	mc := &memCluster{t: t, net: &memNet{}, store: &kv.Memory{}, clock: new(fakeclock.Clock),
		caps: &hub.HoldCaps{Total: 3, KeptMax: 4096}}
	for i := range n {
		c, err := newNode(Options{NodeID: fmt.Sprintf("m%d", i+1), ProbeTimeout: 200 * time.Millisecond,
			DeadAfter: time.Hour, OpTimeout: 5 * time.Second, ReconnectGrace: fuzzGrace, HoldBytes: 256,
			HoldCaps: mc.caps, Clock: mc.clock})
		if err != nil {
			t.Fatal(err)
		}
		c.ctl, c.data = mc.net.bus(), mc.net.bus()
		c.openStore = func(context.Context) (kv.Store, bool, error) { return mc.store, false, nil }
		if err := c.start(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		mc.nodes = append(mc.nodes, c)
	}
	return mc
}

// quiet waits until nothing is on its way: no message on the bus, no
// node's goroutine at work, no transition waiting for an earlier one.
func (mc *memCluster) quiet() {
	mc.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for calm := 0; calm < 3; {
		idle := mc.net.inflight.Load() == 0
		for _, c := range mc.nodes {
			idle = idle && c.active.Load() == 0 && !c.waiting()
		}
		if idle {
			calm++
		} else {
			calm = 0
		}
		if time.Now().After(deadline) {
			mc.t.Fatal("the cluster never went quiet")
		}
		runtime.Gosched()
	}
}

// waiting reports whether a local seat holds a transition that waits for
// an earlier one.
func (c *Cluster) waiting() bool {
	for _, m := range c.members() {
		m.mu.Lock()
		for _, s := range m.seats {
			if len(s.pending) > 0 {
				m.mu.Unlock()
				return true
			}
		}
		m.mu.Unlock()
	}
	return false
}

// settle acknowledges everything on every link (the links' loop does not
// run in these tests).
func (mc *memCluster) settle() {
	mc.t.Helper()
	for range 100 {
		mc.quiet()
		held := 0
		for _, c := range mc.nodes {
			c.in.Flush(nil)
		}
		mc.quiet()
		for _, c := range mc.nodes {
			c.out.Tick(time.Now())
			held += c.out.Held()
		}
		if held == 0 {
			return
		}
	}
	mc.t.Fatal("links never drained")
}

func (mc *memCluster) close() {
	mc.settle()
	for _, c := range mc.nodes {
		c.Close()
	}
}

// roomOf reads room k from the store.
func (mc *memCluster) roomOf(k hub.Key) (seats, uint64) {
	val, rev, err := mc.store.Get(context.Background(), roomKey(k))
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		mc.t.Fatal(err)
	}
	return decodeRoom(val), rev
}

// FuzzCluster is FuzzLocalHold for the clustered backend: two nodes on an
// in-process bus and the in-memory store, four clients that join (plain,
// resumable, asking for a restart, resuming with the newest token they
// got) on either node, lose their sockets and come back on either node,
// leave, relay, stop answering probes, while the clock moves. After
// every step, once the nodes are quiet: at most two members per room,
// every member a live client in the room or a held seat, every live
// client's view of the room (its partner, the revision) the stored one;
// at the end, once the grace has passed, nothing is left: no key in the
// store, no hold, no timer, no kept byte, nothing held on a link.
func FuzzCluster(f *testing.F) {
	f.Add([]byte{0x08, 0x0d, 0x1a, 0x22, 0x18, 0x38, 0x39, 0x23})
	f.Add([]byte{0x08, 0x09, 0x21, 0x11, 0x38, 0x29, 0x69, 0x0d})
	f.Add([]byte{0x08, 0x09, 0x20, 0x11, 0x19, 0x30, 0x08, 0x40, 0x4a})
	f.Add([]byte{0x08, 0x01, 0x18, 0x29, 0x01, 0x48, 0x10, 0x00, 0x39})
	f.Add([]byte{0x00, 0x01, 0x02, 0x32, 0x03, 0x22, 0x19, 0x2a})
	f.Add([]byte{0x08, 0x09, 0x19, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x11, 0x3a})
	f.Add([]byte{0x08, 0x09, 0x99, 0x11, 0x29, 0xd8, 0x10, 0x38, 0x39}) // half-open takeovers on both nodes
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		mc := startMemCluster(t, 2)
		defer mc.close()
		keys := []hub.Key{{App: "a", Stream: "r0"}, {App: "a", Stream: "r1"}}
		// A socket and the rooms the transport has it in.
		type sock struct {
			conn  *fuzzConn
			node  int
			rooms map[hub.Key]bool
		}
		type client struct {
			sock
			tokens map[hub.Key]string
			// stale are the client's earlier sockets that nobody has
			// noticed are gone (half-open): still members until a
			// resume takes their seats (and kills them) or they die.
			stale []sock
		}
		clients := make([]*client, 4)
		for i := range clients {
			clients[i] = &client{sock: sock{conn: &fuzzConn{alive: true}, node: i % 2, rooms: map[hub.Key]bool{}}, tokens: map[hub.Key]string{}}
		}
		// leaveAll is the transport's cleanup of a socket that is gone: it
		// leaves every room it is in.
		leaveAll := func(s sock) {
			for k := range s.rooms {
				mc.nodes[s.node].Leave(s.conn, k, hub.ReasonClosed)
			}
			s.conn.Kill("lost")
		}
		// lose ends c's socket; the client comes back later on a new one,
		// on node. halfOpen: the old socket is not noticed gone.
		lose := func(c *client, node int, halfOpen bool) {
			if halfOpen {
				c.stale = append(c.stale, c.sock)
			} else {
				leaveAll(c.sock)
			}
			c.sock = sock{conn: &fuzzConn{alive: true}, node: node, rooms: map[hub.Key]bool{}}
		}
		join := func(c *client, k hub.Key, info hub.JoinInfo) {
			info.Again = c.rooms[k]
			err := mc.nodes[c.node].Join(context.Background(), c.conn, k, info)
			if err != nil {
				if !errors.Is(err, protocol.ErrNoSpaceForNewPeer) {
					t.Fatalf("join: %v", err)
				}
				return
			}
			c.rooms[k] = true
			if tok := c.conn.lastToken(t); tok != "" {
				c.tokens[k] = tok
			}
		}
		for _, op := range ops {
			c, k := clients[op&3], keys[(op>>2)&1]
			switch (op >> 3) % 8 {
			case 0:
				join(c, k, hub.JoinInfo{})
			case 1:
				join(c, k, hub.JoinInfo{Resumable: true, Session: "s", Restart: op&0x40 != 0})
			case 2:
				join(c, k, hub.JoinInfo{Resumable: true, Session: "s", ResumeToken: c.tokens[k]})
			case 3:
				lose(c, int(op>>6)&1, op&0x80 != 0)
			case 4:
				mc.nodes[c.node].Leave(c.conn, k, hub.ReasonLeft)
				delete(c.rooms, k)
			case 5:
				mc.nodes[c.node].Relay(c.conn, k, hub.Lend([]byte(`{"command":"peerMessageCommand","data":"0123456789"}`)))
			case 6:
				c.conn.mu.Lock()
				c.conn.alive = !c.conn.alive
				c.conn.mu.Unlock()
			case 7:
				mc.clock.Advance(fuzzGrace / 3)
			}
			mc.quiet()
			// A killed socket (evicted, or taken over) is lost: the
			// transport leaves its rooms.
			for _, x := range clients {
				if x.conn.isKilled() {
					lose(x, x.node, false)
				}
				for i := 0; i < len(x.stale); i++ {
					if x.stale[i].conn.isKilled() {
						leaveAll(x.stale[i])
						x.stale = append(x.stale[:i], x.stale[i+1:]...)
						i--
					}
				}
			}
			mc.quiet()
			var socks []sock
			for _, x := range clients {
				socks = append(append(socks, x.sock), x.stale...)
			}
			for _, key := range keys {
				st, rev := mc.roomOf(key)
				if st.Len() > 2 {
					t.Fatalf("%d members", st.Len())
				}
				live := map[string]bool{}
				for _, x := range socks {
					if !x.rooms[key] {
						continue
					}
					m := mc.nodes[x.node].member(x.conn, false)
					if m == nil || !st.Has(m.id) {
						t.Fatalf("a client in room %s is no member of it (%+v)", key.Stream, st.Members())
					}
					live[m.id] = true
					m.mu.Lock()
					s := m.seats[key]
					p, _ := st.Partner(m.id)
					ok := s != nil && s.partner == p && s.rev == rev
					m.mu.Unlock()
					if !ok {
						t.Fatalf("member %s sees partner %q at revision %d; the store says %q at %d", m.id, s.partner, s.rev, p, rev)
					}
				}
				for _, s := range st.Members() {
					if !s.IsHeld() && !live[s.Member] {
						t.Fatalf("member %s of %s is neither a live client in the room nor held", s.Member, key.Stream)
					}
				}
			}
		}
		for _, c := range clients {
			for _, x := range c.stale {
				leaveAll(x)
			}
			lose(c, c.node, false)
		}
		mc.quiet()
		mc.clock.Advance(fuzzGrace)
		mc.settle()
		var held int64
		for _, c := range mc.nodes {
			st := c.Stats()
			held += st.Held
			if st.Rooms != 0 {
				t.Fatalf("node %s: %d rooms left", c.id, st.Rooms)
			}
		}
		if n := mc.store.Len(); n != 0 || held != 0 || mc.clock.Pending() != 0 || mc.caps.Kept() != 0 {
			t.Fatalf("left over: %d keys, %d holds, %d timers, %d bytes kept", n, held, mc.clock.Pending(), mc.caps.Kept())
		}
	})
}
