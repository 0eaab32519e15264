package bench

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// member is one socket of the storm scenario: a duet SDK's client in a
// call, which joined resumable with its call session and comes back with
// its resume token when its socket is lost.
type member struct {
	room, session string
	partner       *member
	c             *conn
	token         string

	lost, back  atomic.Int64 // unix ns: socket lost, joined again
	stops       atomic.Int64 // stop messages received after the loss
	knowPartner atomic.Bool  // told the partner's session after coming back
}

// stormMsg is what the storm reads of the server's messages.
type stormMsg struct {
	Command     string `json:"command"`
	Definition  string `json:"definition"`
	ResumeToken string `json:"resumeToken"`
	PeerSession string `json:"peerSession"`
}

func (m *member) joinMsg() []byte {
	j := map[string]any{"command": "join", "streamId": m.room, "resumable": true, "session": m.session}
	if m.token != "" {
		j["resumeToken"] = m.token
	}
	b, _ := json.Marshal(j)
	return b
}

// stormConnect opens and joins n pairs of members (indices from first).
func stormConnect(ctx context.Context, o *Options, dl *dialer, first, n int, cn *counters) []*member {
	members := make([]*member, 0, 2*n)
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < o.Parallel && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				room := fmt.Sprintf("%s-w%d-s%d", dl.run, dl.worker, first+i)
				a, b := &member{room: room, session: randomID()}, &member{room: room, session: randomID()}
				a.partner, b.partner = b, a
				u := dl.urls[(first+i)%len(dl.urls)]
				var err error
				for _, m := range []*member{a, b} {
					if err = m.connect(ctx, u, dl.src, dl.tls); err != nil {
						break
					}
					cn.connected.Add(1)
				}
				if err != nil {
					cn.errs.add(err)
					for _, m := range []*member{a, b} {
						if m.c != nil {
							m.c.close()
						}
					}
					continue
				}
				mu.Lock()
				members = append(members, a, b)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return members
}

// connect dials, joins and waits for joined (until ctx ends, or 30 s),
// keeping its resume token.
func (m *member) connect(ctx context.Context, url string, src net.IP, tc *tls.Config) error {
	c, err := dialWS(ctx, url, src, tc)
	if err != nil {
		return err
	}
	if err := c.send(m.joinMsg()); err != nil {
		c.close()
		return err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(30 * time.Second)
	}
	// A client that gave up waiting for joined and closed would leave a
	// member that did join: its partner would hear stop. An SDK waits.
	c.nc.SetReadDeadline(dl)
	for {
		p, err := c.read()
		if err != nil {
			c.close()
			return fmt.Errorf("bench: waiting for joined: %w", err)
		}
		var msg stormMsg
		if json.Unmarshal(p, &msg) != nil {
			continue
		}
		switch {
		case msg.Command == "notification" && msg.Definition == "joined":
			m.token = msg.ResumeToken
			if msg.PeerSession == m.partner.session {
				m.knowPartner.Store(true)
			}
			c.nc.SetReadDeadline(time.Time{})
			c.shrink()
			m.c = c
			return nil
		case msg.Command == "error":
			c.close()
			return fmt.Errorf("bench: join refused: %s", p)
		}
	}
}

// storm holds the members until each loses its socket (the server was
// killed), then brings each back after a random delay within --spread of
// its loss, retrying dials until the server answers, and rejoins with its
// token. It ends when every member is back, or at --storm-wait after the
// first loss.
func storm(ctx context.Context, o *Options, dl *dialer, members []*member, cn *counters) *result {
	var firstLoss atomic.Int64
	deadline := func() time.Time {
		if f := firstLoss.Load(); f != 0 {
			return time.Unix(0, f).Add(o.StormWait)
		}
		return time.Now().Add(time.Hour)
	}
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Hold: read until the socket is lost.
			for {
				if _, err := m.c.read(); err != nil {
					break
				}
			}
			now := time.Now().UnixNano()
			m.knowPartner.Store(false) // what the lost server told counts no more
			m.lost.Store(now)
			firstLoss.CompareAndSwap(0, now)
			m.c.nc.Close()
			u := dl.urls[(i/2)%len(dl.urls)]
			time.Sleep(rand.N(o.Spread + 1))
			for {
				if time.Now().After(deadline()) || ctx.Err() != nil {
					cn.errs.add(fmt.Errorf("bench: member not back within %s", o.StormWait))
					return
				}
				dctx, cancel := context.WithDeadline(ctx, deadline())
				err := m.connect(dctx, u, dl.src, dl.tls)
				cancel()
				if err == nil {
					break
				}
				time.Sleep(50*time.Millisecond + rand.N(100*time.Millisecond)) // the server is not up yet
			}
			m.back.Store(time.Now().UnixNano())
			cn.done.Add(1)
			// Read on: a stop now would end a call that should survive.
			m.c.nc.SetReadDeadline(deadline())
			for {
				p, err := m.c.read()
				if err != nil {
					return
				}
				var msg stormMsg
				if json.Unmarshal(p, &msg) == nil {
					switch msg.Command {
					case "stop":
						m.stops.Add(1)
					case "start":
						if msg.PeerSession == m.partner.session {
							m.knowPartner.Store(true)
						}
					}
				}
			}
		}()
	}
	// Every member back, then a moment for late stops: the readers end at
	// the deadline or when the run is stopped.
	for cn.done.Load() < int64(len(members)) && time.Now().Before(deadline()) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	for _, m := range members {
		if m.c != nil {
			m.c.nc.SetReadDeadline(time.Unix(1, 0))
		}
	}
	wg.Wait()
	r := &result{Lat: newHist(), Storm: &stormResult{Members: int64(len(members))}}
	st := r.Storm
	for _, m := range members {
		lost, back := m.lost.Load(), m.back.Load()
		if lost == 0 {
			continue
		}
		st.Lost++
		st.FirstLoss = minNonZero(st.FirstLoss, lost)
		if back == 0 {
			continue
		}
		st.Back++
		st.LastBack = max(st.LastBack, back)
		r.Lat.record(time.Duration(back - lost))
		st.Stops += m.stops.Load()
		if m.knowPartner.Load() {
			st.KnowPartner++
		}
		m.c.close()
	}
	r.Count = st.Back
	return r
}

// stormResult is a worker's storm figures; times are unix ns.
type stormResult struct {
	Members     int64 `json:"members"`
	Lost        int64 `json:"lost"`
	Back        int64 `json:"back"`
	Stops       int64 `json:"stops"`
	KnowPartner int64 `json:"know_partner"`
	FirstLoss   int64 `json:"first_loss_ns"`
	LastBack    int64 `json:"last_back_ns"`
}

func minNonZero(a, b int64) int64 {
	if a == 0 || b < a {
		return b
	}
	return a
}

func randomID() string {
	var b [9]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
