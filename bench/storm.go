package bench

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
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

	held chan struct{} // closed when the socket it joined with is lost

	lost, back  atomic.Int64 // unix ns: socket lost, joined again
	stops       atomic.Int64 // stop messages received after the loss
	knowPartner atomic.Bool  // told the partner's session after coming back

	// What explains a stop (the storm's reader owns these until it ends).
	stopAt    int64   // unix ns of the first stop after coming back
	lostAgain int64   // unix ns: the socket was lost after coming back
	againErr  error   // and how
	attempts  int     // connects after the loss
	joinFails []error // connects that failed after their join was sent
}

// errJoinSent marks a connect that failed after its join was sent: the
// server may hold a seat for it that the member's next join, with a token
// that seat never gave it, does not take back.
var errJoinSent = errors.New("after the join was sent")

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
				// Each member reads from now on, answering the server's pings
				// as an SDK does: a connect phase longer than the idle timeout
				// (a loaded machine) must not lose the first members' sockets
				// before the server is killed.
				for _, m := range []*member{a, b} {
					m.held = make(chan struct{})
					go m.hold()
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

// hold reads the socket the member joined with until it is lost.
func (m *member) hold() {
	defer close(m.held)
	for {
		if _, err := m.c.read(); err != nil {
			return
		}
	}
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
			return fmt.Errorf("bench: waiting for joined (%w): %w", errJoinSent, err)
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
			return fmt.Errorf("bench: join refused (%w): %s", errJoinSent, p)
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
			<-m.held // until the socket is lost
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
				m.attempts++
				if err == nil {
					break
				}
				if errors.Is(err, errJoinSent) {
					m.joinFails = append(m.joinFails, err)
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
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						m.lostAgain, m.againErr = time.Now().UnixNano(), err
					}
					return
				}
				var msg stormMsg
				if json.Unmarshal(p, &msg) == nil {
					switch msg.Command {
					case "stop":
						if m.stops.Add(1) == 1 {
							m.stopAt = time.Now().UnixNano()
						}
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
		if m.lostAgain != 0 {
			st.LostAgain++
		}
		if len(m.joinFails) > 0 {
			st.JoinFailed++
		}
		m.c.close()
	}
	// Each stop with what its member and the partner went through, times
	// from the first loss: the first few, to find the cause.
	shown := 0
	for _, m := range members {
		if m.stopAt == 0 || shown == 10 {
			continue
		}
		shown++
		at := func(ns int64) string {
			if ns == 0 {
				return "never"
			}
			return fmt.Sprintf("+%.1fs", float64(ns-st.FirstLoss)/1e9)
		}
		p := m.partner
		fmt.Fprintf(os.Stderr, "storm: %s got stop at %s (back at %s after %d connects, %v failed after join; lost again %s %v); its partner back at %s after %d connects (failed after join: %v), lost again %s %v\n",
			m.room, at(m.stopAt), at(m.back.Load()), m.attempts, len(m.joinFails), at(m.lostAgain), m.againErr,
			at(p.back.Load()), p.attempts, p.joinFails, at(p.lostAgain), p.againErr)
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
	LostAgain   int64 `json:"lost_again"`  // members whose socket was lost after they were back
	JoinFailed  int64 `json:"join_failed"` // members with a connect that failed after its join was sent
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
