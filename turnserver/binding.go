package turnserver

import (
	"net"
	"net/netip"
	"time"

	"github.com/duet-rtc/duet/ice"
)

// What binds an allocation to the member it was made for. A credential is
// minted per member (server.iceAnswer), bound to the room token that
// authorized it (ice.UserToken) and no longer-lived than that token:
//   - TokenQuota counts allocations per room token, however many sockets
//     brought it and however many credentials they were minted;
//   - IPQuota counts them per client address;
//   - an allocation ends when its credential expires, not at its next
//     refresh: so when its token does;
//   - EndUser ends a removed member's allocations and refuses its
//     credential from then on.

// track records rc as user's open allocation and arms the timer that ends
// it when its credential expires.
func (r *relays) track(rc *relayConn) {
	r.mu.Lock()
	set := r.open[rc.user]
	if set == nil {
		set = map[*relayConn]struct{}{}
		r.open[rc.user] = set
	}
	set[rc] = struct{}{}
	r.mu.Unlock()
	if expiry, err := ice.CheckUsername(rc.user, r.s.o.Now()); err == nil {
		t := time.AfterFunc(expiry.Sub(r.s.o.Now()), func() {
			r.s.m.ended("expired")
			rc.Close()
		})
		rc.expire = t.Stop
	}
}

// EndUser ends the allocations of credential username and refuses it
// until it expires: an operator removed the member it was minted for. It
// does not block; the allocations are closed on the server's own
// goroutine.
func (s *Server) EndUser(username string) {
	expiry, err := ice.CheckUsername(username, s.o.Now())
	if err != nil {
		return // expired already (or not minted): refused anyway
	}
	r := s.relays
	r.mu.Lock()
	r.revoked[username] = expiry
	for rc := range r.open[username] {
		r.ending = append(r.ending, rc)
	}
	r.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the worker is awake already
	}
}

// revoked reports whether EndUser ended username.
func (r *relays) isRevoked(username string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.revoked[username]
	return ok
}

// bindingWorker closes what EndUser ended and forgets revocations once
// their credentials have expired. It runs until Close.
func (s *Server) bindingWorker() {
	defer s.wg.Done()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	r := s.relays
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-prune.C:
		}
		now := s.o.Now()
		r.mu.Lock()
		ending := r.ending
		r.ending = nil
		for u, until := range r.revoked {
			if !now.Before(until) {
				delete(r.revoked, u)
			}
		}
		r.mu.Unlock()
		for _, rc := range ending {
			s.m.ended("removed")
			rc.Close()
		}
	}
}

// allocationCreated and allocationDeleted are pion's allocation events:
// they count allocations per client address for IPQuota.
func (s *Server) allocationCreated(src, _ net.Addr, _, _, _ string, _ net.Addr, _ int) {
	if ip, ok := clientIP(src); ok {
		s.relays.mu.Lock()
		s.relays.byIP[ip]++
		s.relays.mu.Unlock()
	}
}

func (s *Server) allocationDeleted(src, _ net.Addr, _, _, _ string) {
	if ip, ok := clientIP(src); ok {
		r := s.relays
		r.mu.Lock()
		if r.byIP[ip]--; r.byIP[ip] <= 0 {
			delete(r.byIP, ip)
		}
		r.mu.Unlock()
	}
}

// clientIP is the IP of a client's transport address (UDP or TCP).
func clientIP(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	}
	return netip.Addr{}, false
}
