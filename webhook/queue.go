package webhook

import (
	"container/heap"
	"time"
)

// delivery is one event for one URL.
type delivery struct {
	ev      *event
	url     string
	attempt int       // attempts made so far
	due     time.Time // when the next attempt may start
	seq     uint64    // arrival order: the smallest is the oldest

	dueIdx, seqIdx int
}

// queue holds the deliveries waiting for an attempt, bounded: ordered by
// when they are due, and by age so that the oldest can be dropped when a
// new one does not fit. The caller locks.
type queue struct {
	byDue dueHeap
	bySeq seqHeap
}

func (q *queue) len() int { return len(q.byDue) }

func (q *queue) push(d *delivery) {
	heap.Push(&q.byDue, d)
	heap.Push(&q.bySeq, d)
}

// next removes and returns the earliest due delivery if it is due at now
// (any when all is set); otherwise it returns when the earliest is due.
func (q *queue) next(now time.Time, all bool) (*delivery, time.Time) {
	if len(q.byDue) == 0 {
		return nil, time.Time{}
	}
	d := q.byDue[0]
	if !all && d.due.After(now) {
		return nil, d.due
	}
	heap.Pop(&q.byDue)
	heap.Remove(&q.bySeq, d.seqIdx)
	return d, time.Time{}
}

// dropOldest removes and returns the delivery that arrived first.
func (q *queue) dropOldest() *delivery {
	if len(q.bySeq) == 0 {
		return nil
	}
	d := heap.Pop(&q.bySeq).(*delivery)
	heap.Remove(&q.byDue, d.dueIdx)
	return d
}

type dueHeap []*delivery

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].dueIdx, h[j].dueIdx = i, j
}
func (h *dueHeap) Push(x any) { d := x.(*delivery); d.dueIdx = len(*h); *h = append(*h, d) }
func (h *dueHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}

type seqHeap []*delivery

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h seqHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].seqIdx, h[j].seqIdx = i, j
}
func (h *seqHeap) Push(x any) { d := x.(*delivery); d.seqIdx = len(*h); *h = append(*h, d) }
func (h *seqHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}
