package room

// Kept is one room message kept for a held seat, sent after its resumed
// joined: Start (with the joiner's session), Stop (with its reason),
// Reconnecting or Reconnected.
type Kept struct {
	Kind    Kind
	Reason  Reason
	Session string
	// In a mesh room (meshkeep.go): Peer names the member the message is
	// about (the sender, for a Frame), and Frame is a relayed frame.
	Peer  string
	Frame []byte
}

// keep appends a message for held seat st. A start followed by a stop (a
// partner that came and went while the seat was held), or a
// peerReconnecting by a peerReconnected, cancel out: the member comes back
// to the room as it is. Past the bound the oldest are dropped.
func (t *Step[M]) keep(st *Seat[M], k Kept) {
	if t.s.mesh != nil {
		t.meshKeep(st, k)
		return
	}
	if n := len(st.Kept); n > 0 {
		last := st.Kept[n-1].Kind
		if k.Kind == Stop && last == Start || k.Kind == Reconnected && last == Reconnecting {
			st.Kept = st.Kept[:n-1]
			return
		}
	}
	st.Kept = append(st.Kept, k)
	if max := t.r.maxKept(); len(st.Kept) > max {
		st.Kept = append(st.Kept[:0], st.Kept[len(st.Kept)-max:]...)
	}
}

// Keep is what a member relayed for its partner while the partner's seat
// is held, in order, bounded in bytes: the partner gets it after its
// resumed joined (and what was kept in its seat). It is dropped when the
// partner leaves, when the member restarts the call (it belonged to the
// negotiation given up) and when the member's own socket goes. Past the
// bound the hold ends as if its grace had run out.
//
// The zero value is empty. The frames are the Keep's own copies.
type Keep struct {
	frames [][]byte
	bytes  int
	back   int  // frames added back: they go before the others
	over   bool // one did not fit
}

// Add keeps frame f (the caller's copy) at the end, or, when back, after
// the frames added back before and ahead of the others (a cluster node
// that learnt of the hold late gets back what it had sent). budget, if
// set, is asked for the bytes once they fit limit (a backend's cap on what
// all its holds keep). A frame that does not fit either marks the Keep
// overflowed and is dropped, as is everything after it: the hold must end
// (Step.Expire, forced). It reports whether f was kept.
func (k *Keep) Add(f []byte, back bool, limit int, budget func(n int) bool) bool {
	if k.over {
		return false
	}
	if k.bytes+len(f) > limit || budget != nil && !budget(len(f)) {
		k.over = true
		return false
	}
	if back {
		k.frames = append(k.frames, nil)
		copy(k.frames[k.back+1:], k.frames[k.back:])
		k.frames[k.back] = f
		k.back++
	} else {
		k.frames = append(k.frames, f)
	}
	k.bytes += len(f)
	return true
}

// Overflowed reports whether a frame did not fit.
func (k *Keep) Overflowed() bool { return k.over }

// Len is the number of frames kept now.
func (k *Keep) Len() int { return len(k.frames) }

// Bytes is what is kept now.
func (k *Keep) Bytes() int { return k.bytes }

// Take empties the Keep and returns its frames, their bytes and whether
// some did not fit (their sender should hear that they were lost).
func (k *Keep) Take() (frames [][]byte, bytes int, over bool) {
	frames, bytes, over = k.frames, k.bytes, k.over
	*k = Keep{}
	return frames, bytes, over
}

// Drop empties the Keep and returns the bytes it held.
func (k *Keep) Drop() int {
	_, n, _ := k.Take()
	return n
}
