package hub

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/netip"

	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/room"
)

// seat is the resume state of one member of a Local room: what it told us
// at join, the hash of its current resume token, and, while its socket is
// gone, the hold that keeps its place.
type seat struct {
	conn      Conn       // the member in the room; while held, its lost socket
	addr      netip.Addr // its client's address, for HoldCaps
	session   string
	resumable bool
	token     [sha256.Size]byte // SHA-256 of the current resume token; zero: none
	hold      *hold
}

// hold keeps a seat whose socket was lost: a timer for the grace and the
// frames sent to the seat meanwhile, delivered in order on resume.
type hold struct {
	addr     netip.Addr // counted against HoldCaps
	stop     func() bool
	frames   [][]byte
	bytes    int
	overflow bool // a frame did not fit: the hold ends as if its grace ran out
}

// tokenBytes of randomness make a resume token (192 bits).
const tokenBytes = 24

// maxTokenLen bounds the resume tokens worth hashing; longer ones match
// nothing.
const maxTokenLen = 128

// rotate gives s a new resume token and returns it; the old one stops
// working. Only the token's hash is kept.
func (s *seat) rotate() string {
	var b [tokenBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	s.token = sha256.Sum256([]byte(tok))
	return tok
}

func (e *entry) seatOf(c Conn) *seat {
	for _, s := range e.seats {
		if s != nil && s.conn == c {
			return s
		}
	}
	return nil
}

func (e *entry) isHeld(c Conn) bool {
	s := e.seatOf(c)
	return s != nil && s.hold != nil
}

// seatByToken returns the seat whose current resume token is tok. The
// hashes are compared in constant time.
func (e *entry) seatByToken(tok string) *seat {
	if len(tok) > maxTokenLen {
		return nil
	}
	h := sha256.Sum256([]byte(tok))
	var found *seat
	for _, s := range e.seats {
		if s != nil && s.token != [sha256.Size]byte{} && subtle.ConstantTimeCompare(h[:], s.token[:]) == 1 {
			found = s
		}
	}
	return found
}

func (e *entry) addSeat(s *seat) {
	for i := range e.seats {
		if e.seats[i] == nil {
			e.seats[i] = s
			return
		}
	}
	panic("hub: more than two seats in a room")
}

func (e *entry) dropSeat(c Conn) {
	for i, s := range e.seats {
		if s != nil && s.conn == c {
			e.seats[i] = nil
		}
	}
}

// admitLocked records what an admitted joiner told us and sends the
// transition: its joined (with a new resume token when it is resumable,
// and the partner's session), then the waiter's start.
func (l *Local) admitLocked(sh *shard, k Key, e *entry, c Conn, info JoinInfo, acts []room.Action[Conn]) {
	resumable := info.Resumable && l.grace > 0
	s := e.seatOf(c)
	if s == nil && (info.Session != "" || resumable) {
		s = &seat{conn: c}
		e.addSeat(s)
	}
	d := delivery{session: info.Session}
	if s != nil {
		s.session, s.resumable, s.addr = info.Session, resumable, info.Addr
		d.joined = l.joinedInfo(e, s)
	}
	l.deliverLocked(k, e, acts, d)
	l.expireOverflowedLocked(sh, k, e)
}

// joinedInfo rotates s's token (or clears it when s is not resumable) and
// returns what s's joined carries.
func (l *Local) joinedInfo(e *entry, s *seat) protocol.JoinedInfo {
	var j protocol.JoinedInfo
	if s.resumable {
		j.ResumeToken, j.ReconnectGrace = s.rotate(), l.grace.Milliseconds()
	} else {
		s.token = [sha256.Size]byte{}
	}
	if p, ok := e.room.Partner(s.conn); ok && s.session != "" {
		if ps := e.seatOf(p); ps != nil {
			j.PeerSession = ps.session
		}
	}
	return j
}

// resumeLocked moves seat s to socket c: c gets joined with resumed, then
// every frame kept while the seat was held, in order; a resumable partner
// gets peerReconnected. It returns the seat's previous socket and whether
// that socket was still live (half-open), so the caller drops it.
func (l *Local) resumeLocked(sh *shard, k Key, e *entry, s *seat, c Conn, info JoinInfo) (old Conn, live bool) {
	old = s.conn
	var frames [][]byte
	if s.hold != nil {
		frames = s.hold.frames
		l.unholdLocked(s)
	} else {
		live = true
	}
	e.room.Replace(old, c)
	s.conn = c
	if i := e.ops.find(old); i >= 0 {
		e.ops.seats[i].c, e.ops.seats[i].remote = c, info.Remote
	}
	s.session, s.resumable, s.addr = info.Session, info.Resumable, info.Addr
	j := l.joinedInfo(e, s)
	j.Resumed = true
	l.resumes.Add(1)
	l.log.Info("seat resumed", "app", k.App, "stream", k.Stream, "remote", info.Remote, "half_open", live, "kept_frames", len(frames))
	c.Send(protocol.Joined(nil, k.Stream, j))
	for _, f := range frames {
		c.Send(f)
	}
	if p, ok := e.room.Partner(c); ok {
		if ps := e.seatOf(p); ps != nil && ps.resumable {
			l.sendLocked(e, p, Lend(protocol.PeerReconnected(nil, k.Stream)))
		}
	}
	l.expireOverflowedLocked(sh, k, e)
	return old, live
}

// holdLocked keeps s's seat for the reconnect grace after its socket went
// away for reason, and tells a resumable partner. The caller took s's
// place in HoldCaps; unholdLocked gives it back.
func (l *Local) holdLocked(sh *shard, k Key, e *entry, s *seat, reason Reason) {
	h := &hold{addr: s.addr}
	s.hold = h
	h.stop = l.clock.AfterFunc(l.grace, func() { l.expire(k, e, s, h) })
	l.held.Add(1)
	l.log.Info("holding seat", "app", k.App, "stream", k.Stream, "reason", reason.String(), "grace", l.grace)
	if p, ok := e.room.Partner(s.conn); ok {
		if ps := e.seatOf(p); ps != nil && ps.resumable {
			l.sendLocked(e, p, Lend(protocol.PeerReconnecting(nil, k.Stream, l.grace.Milliseconds())))
		}
	}
	l.expireOverflowedLocked(sh, k, e)
}

// unholdLocked ends s's hold, if any, without a transition.
func (l *Local) unholdLocked(s *seat) {
	if h := s.hold; h != nil {
		h.stop()
		l.caps.Release(h.addr)
		l.caps.Unkeep(h.bytes)
		s.hold = nil
		l.held.Add(-1)
	}
}

// expire runs when hold h of seat s in k's entry e reaches the end of its
// grace: the seat is freed and the partner gets stop, reason timeout.
func (l *Local) expire(k Key, e *entry, s *seat, h *hold) {
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.rooms[k] != e || s.hold != h {
		return // resumed or ended meanwhile
	}
	l.expiries.Add(1)
	l.log.Info("held seat expired", "app", k.App, "stream", k.Stream, "grace", l.grace)
	l.removeLocked(k, e, s.conn, ReasonTimeout)
	l.expireOverflowedLocked(sh, k, e)
}

// expireOverflowedLocked ends the holds whose kept frames passed the
// bound, as if their grace had run out, then forgets e if it is empty.
func (l *Local) expireOverflowedLocked(sh *shard, k Key, e *entry) {
	for {
		var over *seat
		for _, s := range e.seats {
			if s != nil && s.hold != nil && s.hold.overflow {
				over = s
			}
		}
		if over == nil {
			break
		}
		l.expiries.Add(1)
		l.log.Info("held seat expired: too much to keep for it", "app", k.App, "stream", k.Stream, "hold_bytes", l.holdBytes)
		l.removeLocked(k, e, over.conn, ReasonTimeout)
	}
	l.forgetIfEmpty(sh, k, e)
}

// sendLocked sends frame to member to, or keeps a copy while its seat is
// held. A frame that would take the kept bytes past the bound (the seat's
// own, or HoldCaps' for all seats) marks the hold to end
// (expireOverflowedLocked) and is dropped.
func (l *Local) sendLocked(e *entry, to Conn, frame Loan) {
	s := e.seatOf(to)
	if s == nil || s.hold == nil {
		frame.SendTo(to)
		return
	}
	h := s.hold
	if h.overflow {
		return
	}
	if h.bytes+frame.Len() > l.holdBytes || !l.caps.Keep(frame.Len()) {
		l.caps.Unkeep(h.bytes)
		h.overflow, h.frames, h.bytes = true, nil, 0
		return
	}
	h.frames = append(h.frames, frame.Clone())
	h.bytes += frame.Len()
}

// Close ends every hold as if its grace had run out and holds no more
// seats: call it once the sockets are gone (after a drain), so that no
// timer outlives the backend.
func (l *Local) Close() {
	l.closed.Store(true)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, e := range sh.rooms {
			for _, s := range e.seats {
				if s != nil && s.hold != nil {
					l.removeLocked(k, e, s.conn, ReasonTimeout)
				}
			}
			l.forgetIfEmpty(sh, k, e)
		}
		sh.mu.Unlock()
	}
}
