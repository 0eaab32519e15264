package bench

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, so a recorded value is off by at most 1/2^subBits (3%).
const subBits = 5

// hist is a log-linear latency histogram of nanoseconds. It is not safe for
// concurrent use: each goroutine records into its own and they are merged.
type hist struct {
	Counts []uint64 `json:"counts"`
	N      uint64   `json:"n"`
	Max    int64    `json:"max"`
}

func newHist() *hist { return &hist{Counts: make([]uint64, 64<<subBits)} }

func bucketOf(v int64) int {
	if v < 1<<subBits {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 - subBits
	return (e+1)<<subBits | int(uint64(v)>>uint(e))&(1<<subBits-1)
}

// lowOf is the smallest value in bucket i.
func lowOf(i int) int64 {
	if i < 1<<subBits {
		return int64(i)
	}
	e := i>>subBits - 1
	return int64(1<<subBits|i&(1<<subBits-1)) << uint(e)
}

func (h *hist) record(d time.Duration) {
	v := int64(d)
	h.Counts[bucketOf(v)]++
	h.N++
	if v > h.Max {
		h.Max = v
	}
}

func (h *hist) merge(o *hist) {
	if o == nil {
		return
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.N += o.N
	if o.Max > h.Max {
		h.Max = o.Max
	}
}

// quantile returns the value below which a fraction q of samples lie (the
// upper end of that sample's bucket, capped at the maximum seen).
func (h *hist) quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := uint64(q*float64(h.N) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			v := lowOf(i+1) - 1
			if v > h.Max {
				v = h.Max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.Max)
}
