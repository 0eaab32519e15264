package hub

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// HoldCaps bound what held seats may cost a node: how many seats are held
// at once for one client address and in all, and how many bytes of frames
// are kept for them in all. A held seat costs its room (nobody else may
// take it for the grace) and the frames its partner relays meanwhile (up
// to HoldBytes each); without caps one client could close sockets in a
// loop and leave a seat, and a megabyte, behind each time.
//
// A backend asks Take before it holds a seat: a refused hold becomes a
// plain leave, as for a client that never asked to resume. It asks Keep
// before it keeps a frame for a held seat: a refused frame ends that
// hold at once, as when the seat's own bound is passed.
//
// The zero HoldCaps, and a nil one, limit nothing.
//
// Lock order: mu is a leaf: a backend calls HoldCaps under its own locks,
// and HoldCaps calls nothing.
type HoldCaps struct {
	PerAddr  int   // seats held at once per client address (JoinInfo.Addr); 0: no limit
	Total    int   // seats held at once in all; 0: no limit
	KeptMax  int64 // bytes of frames kept for all held seats; 0: no limit
	mu       sync.Mutex
	byAddr   map[netip.Addr]int
	held     int
	kept     atomic.Int64
	refusals [3]atomic.Int64 // by CapKind
}

// CapKind names one of HoldCaps' caps, for metrics.
type CapKind uint8

// The caps of HoldCaps.
const (
	CapPerAddr CapKind = iota // a hold refused: its address has PerAddr seats held
	CapTotal                  // a hold refused: Total seats are held
	CapKept                   // a hold ended: KeptMax bytes are kept
)

// String is the cap's label in metrics.
func (k CapKind) String() string {
	switch k {
	case CapPerAddr:
		return "per_ip"
	case CapTotal:
		return "total"
	case CapKept:
		return "kept_bytes"
	}
	return "unknown"
}

// Take counts one more held seat for addr (the zero Addr: an unknown
// address, counted only in the total) and reports true, or reports false,
// counting nothing, when a cap is reached.
func (h *HoldCaps) Take(addr netip.Addr) bool {
	if h == nil || h.PerAddr <= 0 && h.Total <= 0 {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Total > 0 && h.held >= h.Total {
		h.refusals[CapTotal].Add(1)
		return false
	}
	if h.PerAddr > 0 && addr.IsValid() {
		if h.byAddr[addr] >= h.PerAddr {
			h.refusals[CapPerAddr].Add(1)
			return false
		}
		if h.byAddr == nil {
			h.byAddr = make(map[netip.Addr]int)
		}
		h.byAddr[addr]++
	}
	h.held++
	return true
}

// Release gives back a seat Take counted for addr.
func (h *HoldCaps) Release(addr netip.Addr) {
	if h == nil || h.PerAddr <= 0 && h.Total <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held--
	if h.PerAddr > 0 && addr.IsValid() {
		if h.byAddr[addr]--; h.byAddr[addr] <= 0 {
			delete(h.byAddr, addr)
		}
	}
}

// Keep counts n more bytes kept for a held seat and reports true, or
// reports false, counting nothing, when that would pass KeptMax.
func (h *HoldCaps) Keep(n int) bool {
	if h == nil {
		return true
	}
	if h.KeptMax <= 0 {
		h.kept.Add(int64(n))
		return true
	}
	for {
		cur := h.kept.Load()
		if cur+int64(n) > h.KeptMax {
			h.refusals[CapKept].Add(1)
			return false
		}
		if h.kept.CompareAndSwap(cur, cur+int64(n)) {
			return true
		}
	}
}

// Unkeep gives back n bytes Keep counted (the frames were delivered or
// dropped).
func (h *HoldCaps) Unkeep(n int) {
	if h != nil && n != 0 {
		h.kept.Add(-int64(n))
	}
}

// Kept is the bytes kept for held seats now.
func (h *HoldCaps) Kept() int64 {
	if h == nil {
		return 0
	}
	return h.kept.Load()
}

// addStats fills st's KeptBytes and HoldLimits.
func (h *HoldCaps) addStats(st *Stats) {
	if h == nil {
		return
	}
	st.KeptBytes = h.kept.Load()
	for i := range h.refusals {
		st.HoldLimits[i] = h.refusals[i].Load()
	}
}

// AddStats fills st's KeptBytes and HoldLimits, for backends in other
// packages.
func (h *HoldCaps) AddStats(st *Stats) { h.addStats(st) }
