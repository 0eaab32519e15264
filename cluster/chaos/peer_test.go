package chaos_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// peer is a client that behaves like the SDKs: it joins its room, offers
// on start, answers offers, sends a steady stream of numbered candidates
// to its partner, leaves now and then, and when its socket goes it
// connects again (to any node) and rejoins. It checks what it sees.
type peer struct {
	name, room string
	sys        *system
	rec        *recorder

	gen int // stream generation: bumped on every notice, so the partner can tell an explained gap

	other *peer    // the other peer of its room
	hist  []string // the last things that happened to it, for a violation's report; guarded by mu

	mu         sync.Mutex
	paired     bool      // paired with a live partner whose stream it receives
	pairedAt   time.Time // when
	heardSince int       // candidates received since pairing
}

// notice kinds: what tells a client that frames may have been lost.
const (
	noticeStop       = "stop"
	noticeRelay      = "relayFailed"
	noticeClosed     = "closed"
	noticeWillStop   = "server_will_stop"
	noticeUnavailabe = "serviceUnavailable"
)

func (p *peer) state() (paired bool, heard int, since time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paired, p.heardSince, p.pairedAt
}

func (p *peer) setPaired(v bool) {
	p.mu.Lock()
	p.paired, p.heardSince = v, 0
	if v {
		p.pairedAt = time.Now()
	}
	p.mu.Unlock()
}

// run connects and reconnects until done is closed.
func (p *peer) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		default:
		}
		url := p.sys.wsURL()
		if url == "" {
			sleep(done, 100*time.Millisecond)
			continue
		}
		d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
		ws, _, err := d.Dial(url, nil)
		if err != nil {
			sleep(done, 100*time.Millisecond)
			continue
		}
		p.session(ws, done)
		ws.Close()
		p.setPaired(false)
		sleep(done, time.Duration(50+rand.IntN(300))*time.Millisecond)
	}
}

func sleep(done <-chan struct{}, d time.Duration) {
	select {
	case <-done:
	case <-time.After(d):
	}
}

type inbound struct {
	Command    string `json:"command"`
	Definition string `json:"definition"`
	StreamID   string `json:"streamId"`
	Type       string `json:"type"`
	SDP        string `json:"sdp"`
	Candidate  string `json:"candidate"`
}

// note keeps what happened for a violation's report.
func (p *peer) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hist = append(p.hist, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	if len(p.hist) > 12 {
		p.hist = p.hist[1:]
	}
}

func (p *peer) history() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.hist, "\n\t\t")
}

func (p *peer) violation(format string, args ...any) {
	p.rec.violation("%s at %s: %s\n\tits history:\n\t\t%s\n\t%s's history:\n\t\t%s", p.name, time.Now().Format("15:04:05.000"),
		fmt.Sprintf(format, args...), p.history(), p.other.name, p.other.history())
}

// session runs one socket until it closes, the peer decides to move, or
// done.
func (p *peer) session(ws *websocket.Conn, done <-chan struct{}) {
	p.gen++
	p.note("socket to %s, generation %d", ws.RemoteAddr(), p.gen)
	msgs := make(chan inbound, 256)
	go func() {
		defer close(msgs)
		for {
			var m inbound
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if json.Unmarshal(b, &m) == nil {
				msgs <- m
			}
		}
	}()
	defer func() {
		ws.Close()
		for range msgs { // the reader ends with the socket
		}
	}()
	send := func(v map[string]any) bool {
		v["streamId"] = p.room
		b, _ := json.Marshal(v)
		ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
		return ws.WriteMessage(websocket.TextMessage, b) == nil
	}
	join := func() bool { return send(map[string]any{"command": "join"}) }
	if !join() {
		return
	}
	var (
		seq         int
		partnerGen  = map[string]int{}
		partnerSeq  = map[string]int{}
		awaitAnswer time.Time // when our offer must be answered by; zero: none due
		rejoinAt    time.Time // when to join again (after a refusal or our leave)
		leaveAt     time.Time // when to leave the room next (zero: not paired)
		moveAt      = time.Now().Add(time.Duration(5+rand.IntN(20)) * time.Second)
		streaming   bool
	)
	resetPartner := func() {
		clear(partnerGen)
		clear(partnerSeq)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case m, ok := <-msgs:
			if !ok {
				p.rec.notice(noticeClosed)
				p.note("socket closed")
				return
			}
			if m.Command != "takeCandidate" {
				p.note("got %s %s %s", m.Command, m.Definition, m.Type)
			}
			switch {
			case m.Command == "notification" && m.Definition == "joined":
			case m.Command == "notification" && m.Definition == "leaved":
				rejoinAt = time.Now().Add(time.Duration(100+rand.IntN(500)) * time.Millisecond)
			case m.Command == "notification" && m.Definition == noticeWillStop:
				p.rec.notice(noticeWillStop)
				return // the SDKs reconnect at once
			case m.Command == "start":
				p.gen++
				resetPartner()
				seq = 0
				if !send(map[string]any{"command": "takeConfiguration", "type": "offer", "sdp": p.name}) {
					return
				}
				p.rec.count("start")
				awaitAnswer = time.Now().Add(answerWithin)
				streaming = true
				p.setPaired(true)
				leaveAt = time.Now().Add(time.Duration(3+rand.IntN(8)) * time.Second)
			case m.Command == "stop":
				p.rec.notice(noticeStop)
				p.gen++
				resetPartner()
				streaming, awaitAnswer, leaveAt = false, time.Time{}, time.Time{}
				p.setPaired(false)
			case m.Command == "takeConfiguration" && m.Type == "offer":
				p.gen++
				resetPartner()
				seq = 0
				if !send(map[string]any{"command": "takeConfiguration", "type": "answer", "sdp": p.name}) {
					return
				}
				streaming = true
				p.setPaired(true)
				leaveAt = time.Now().Add(time.Duration(3+rand.IntN(8)) * time.Second)
			case m.Command == "takeConfiguration" && m.Type == "answer":
				awaitAnswer = time.Time{}
				p.rec.count("answered")
			case m.Command == "takeCandidate":
				p.checkCandidate(m.Candidate, partnerGen, partnerSeq)
			case m.Command == "error" && m.Definition == noticeRelay:
				p.rec.notice(noticeRelay)
				p.gen++
			case m.Command == "error" && (m.Definition == noticeUnavailabe || m.Definition == "NoSpaceForNewPeer"):
				p.rec.count("refused:" + m.Definition)
				rejoinAt = time.Now().Add(300 * time.Millisecond)
			case m.Command == "error" && m.Definition == "no_peer_associated_before":
				// A frame refused: it crossed our partner's departure, and
				// the partner is told of the gap by this generation's end.
				p.rec.notice("no_peer_associated_before")
				p.gen++
			default:
				p.violation("unexpected %+v", m)
			}
		case now := <-tick.C:
			if !awaitAnswer.IsZero() && now.After(awaitAnswer) {
				p.violation("start unmatched: no answer to its offer within %v and no notice", answerWithin)
				awaitAnswer = time.Time{}
			}
			if !rejoinAt.IsZero() && now.After(rejoinAt) {
				rejoinAt = time.Time{}
				if !join() {
					return
				}
			}
			if streaming {
				seq++
				if !send(map[string]any{"command": "takeCandidate", "label": 0, "id": "0",
					"candidate": fmt.Sprintf("%s:%d:%d", p.name, p.gen, seq)}) {
					return
				}
			}
			if !leaveAt.IsZero() && now.After(leaveAt) && rand.IntN(3) == 0 && !p.sys.quiet() {
				// Leave traffic: hang up and call again, on this socket.
				p.rec.count("leave")
				p.note("leave")
				streaming, awaitAnswer, leaveAt = false, time.Time{}, time.Time{}
				p.gen++
				// Our own leave ends the call as a notice would: the
				// partner's frames sent while we were out of the room are
				// dropped, and the ones it sent before hearing of our
				// rejoin may follow, from its old generation.
				resetPartner()
				p.setPaired(false)
				if !send(map[string]any{"command": "leave"}) {
					return
				}
			} else if !leaveAt.IsZero() && now.After(leaveAt) {
				leaveAt = now.Add(time.Duration(3+rand.IntN(8)) * time.Second)
			}
			if now.After(moveAt) && !p.sys.quiet() {
				p.rec.count("move")
				p.note("move")
				return // a phone changing networks: a new socket, maybe on another node
			}
		}
	}
}

// answerWithin bounds how long an offer may wait for its answer when
// nothing has told the offerer otherwise: longer than any fault the
// chaos loop makes, shorter than a client's patience.
const answerWithin = 15 * time.Second

// checkCandidate checks one relayed candidate "name:gen:seq": from one
// partner's stream, generations never go back and within one generation
// the numbers run without a gap. A gap is fine only after a notice, which
// bumps the generation.
func (p *peer) checkCandidate(c string, gens, seqs map[string]int) {
	parts := strings.Split(c, ":")
	if len(parts) != 3 {
		p.violation("malformed candidate %q", c)
		return
	}
	from := parts[0]
	gen, _ := strconv.Atoi(parts[1])
	seq, _ := strconv.Atoi(parts[2])
	lastGen, known := gens[from]
	switch {
	case known && gen < lastGen:
		p.violation("candidate of %s's generation %d after generation %d (reordered)", from, gen, lastGen)
		return
	case !known || gen > lastGen:
		gens[from], seqs[from] = gen, seq
	case seq != seqs[from]+1:
		p.violation("%s's candidate %d after %d in generation %d: lost or reordered without an error", from, seq, seqs[from], gen)
		seqs[from] = seq
	default:
		seqs[from] = seq
	}
	p.rec.count("frames")
	p.mu.Lock()
	p.heardSince++
	p.mu.Unlock()
}
