package link

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// lossy is a Net between one sender and one receiver that loses,
// repeats and reorders what it carries as told. Messages wait in it until
// the test pumps them, so every run is one interleaving the test chose.
type lossy struct {
	mu    sync.Mutex
	rng   *rand.Rand
	loss  float64 // chance that a message is lost
	dup   float64 // chance that a message arrives twice
	swap  float64 // chance that a message overtakes the one before it
	down  bool
	data  [][]byte
	acks  [][]byte
	sent  int    // data messages published
	inPub func() // called inside Publish: a re-entrancy probe
}

func (n *lossy) put(q *[][]byte, b []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if q == &n.data {
		n.sent++
	}
	if n.rng != nil && n.rng.Float64() < n.loss {
		return
	}
	b = slices.Clone(b)
	*q = append(*q, b)
	if n.rng != nil && n.rng.Float64() < n.dup {
		*q = append(*q, b)
	}
	if l := len(*q); n.rng != nil && l > 1 && n.rng.Float64() < n.swap {
		(*q)[l-1], (*q)[l-2] = (*q)[l-2], (*q)[l-1]
	}
}

func (n *lossy) Publish(_ string, b []byte) {
	if n.inPub != nil {
		n.inPub()
	}
	n.put(&n.data, b)
}
func (n *lossy) PublishAck(_ string, b []byte) { n.put(&n.acks, b) }
func (n *lossy) Up() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.down
}

func (n *lossy) take(q *[][]byte) [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := *q
	*q = nil
	return out
}

// pair is one link: an Out of a, an In of b, and what b delivered.
type pair struct {
	t     *testing.T
	net   *lossy
	out   *Out[int]
	in    *In
	now   time.Time
	got   []uint64
	drops []int
}

func newPair(t *testing.T, net *lossy, buffer int, hold time.Duration) *pair {
	p := &pair{t: t, net: net, now: time.Unix(1000, 0)}
	p.out = NewOut(net, Options[int]{Self: "a~1", Buffer: buffer, Hold: hold, Now: func() time.Time { return p.now },
		Dropped: func(to string, tags []int, msgs int) { p.drops = append(p.drops, tags...) }})
	p.in = NewIn("b~1", net)
	return p
}

// send sends message number i, tagged i.
func (p *pair) send(i int) {
	p.out.Send("b~1", 1, i, 8, func(b []byte) []byte { return binary.AppendUvarint(b, uint64(i)) })
}

// pump carries what the net holds, both ways, and lets time pass by d.
func (p *pair) pump(d time.Duration) {
	for _, b := range p.net.take(&p.net.data) {
		typ, body, ok, err := p.in.Receive(b)
		if err != nil {
			p.t.Fatal(err)
		}
		if ok {
			if typ != 1 {
				p.t.Fatalf("delivered type %d", typ)
			}
			v, _ := binary.Uvarint(body)
			p.got = append(p.got, v)
		}
	}
	p.now = p.now.Add(d)
	p.in.Flush(nil)
	for _, b := range p.net.take(&p.net.acks) {
		if err := p.out.Ack(b); err != nil {
			p.t.Fatal(err)
		}
	}
	p.out.Tick(p.now)
}

func (p *pair) expect(n int) {
	p.t.Helper()
	for i, v := range p.got {
		if v != uint64(i) {
			p.t.Fatalf("delivered %v, want 0..%d once and in order", p.got, n-1)
		}
	}
	if len(p.got) != n {
		p.t.Fatalf("delivered %d of %d", len(p.got), n)
	}
}

// TestOnceInOrder: over a net that loses, repeats and reorders, every
// message is delivered once and in order, and nothing stays held.
func TestOnceInOrder(t *testing.T) {
	for seed := range uint64(8) {
		net := &lossy{rng: rand.New(rand.NewPCG(seed, 1)), loss: 0.2, dup: 0.2, swap: 0.2}
		p := newPair(t, net, 1<<20, time.Hour)
		const n = 300
		for i := range n {
			p.send(i)
			if i%7 == 0 {
				p.pump(10 * time.Millisecond)
			}
		}
		for range 5000 { // a resend starts over at the first loss
			if p.out.Held() == 0 && len(p.got) == n {
				break
			}
			p.pump(ResendAfter)
		}
		p.expect(n)
		if h := p.out.Held(); h != 0 || len(p.drops) != 0 {
			t.Fatalf("seed %d: %d held, dropped %v", seed, h, p.drops)
		}
	}
}

// TestOutage: while the net is down nothing is published; once it is up
// the held messages go by the resends.
func TestOutage(t *testing.T) {
	net := &lossy{down: true}
	p := newPair(t, net, 1<<20, time.Hour)
	for i := range 10 {
		p.send(i)
	}
	if net.sent != 0 || p.out.Held() != 10 {
		t.Fatalf("published %d while down, %d held", net.sent, p.out.Held())
	}
	net.down = false
	p.pump(ResendAfter)
	p.pump(0)
	p.pump(0)
	p.expect(10)
	if p.out.Held() != 0 {
		t.Fatalf("%d held", p.out.Held())
	}
}

// TestBounds: past its byte bound, or its time bound, a link gives up what
// it holds and starts a new epoch; the owner is told which messages went.
func TestBounds(t *testing.T) {
	net := &lossy{down: true}
	p := newPair(t, net, 30, time.Second)
	for i := 1; i <= 6; i++ { // 8 bytes each: the fourth would pass 30
		p.send(i)
	}
	if !slices.Equal(p.drops, []int{1, 2, 3}) || p.out.Held() != 3 {
		t.Fatalf("dropped %v, %d held", p.drops, p.out.Held())
	}
	p.now = p.now.Add(2 * time.Second)
	p.out.Tick(p.now)
	if !slices.Equal(p.drops, []int{1, 2, 3, 4, 5, 6}) || p.out.Held() != 0 {
		t.Fatalf("dropped %v, %d held", p.drops, p.out.Held())
	}
	// A transition (tag 0) is dropped without a word to anyone.
	p.drops = nil
	p.out.Send("b~1", 1, 0, 8, func(b []byte) []byte { return append(b, 0) })
	p.now = p.now.Add(2 * time.Second)
	p.out.Tick(p.now)
	if p.drops != nil || p.out.Held() != 0 {
		t.Fatalf("dropped %v, %d held", p.drops, p.out.Held())
	}
	// The new epoch starts at 1 for the receiver.
	net.down = false
	p.send(0)
	p.pump(0)
	p.expect(1)
}

// TestReceiverLostState: a receiver that forgot the link (it had declared
// the sender dead, and forgot it) asks from the start; the sender says
// where what it still holds begins, and delivery goes on.
func TestReceiverLostState(t *testing.T) {
	net := &lossy{}
	p := newPair(t, net, 1<<20, time.Hour)
	for i := range 3 {
		p.send(i)
	}
	p.pump(0)
	p.pump(0)
	p.expect(3)
	p.in = NewIn("b~1", net)
	p.got = nil
	for i := 3; i < 6; i++ {
		p.send(i)
	}
	for range 5 {
		p.pump(ResendAfter)
	}
	if !slices.Equal(p.got, []uint64{3, 4, 5}) || p.out.Held() != 0 {
		t.Fatalf("delivered %v, %d held", p.got, p.out.Held())
	}
}

// TestForgetAndRevive: a destination declared dead is forgotten with what
// its link held; if it comes back, the owner hears of the messages still
// lost; a departed one takes its messages with it.
func TestForgetAndRevive(t *testing.T) {
	net := &lossy{down: true}
	dead := map[string]bool{}
	p := newPair(t, net, 1<<20, time.Hour)
	p.out.opt.Gone = func(to string) (bool, bool) { return dead[to], true }
	for i := 1; i <= 3; i++ {
		p.send(i)
	}
	dead["b~1"] = true
	p.out.Tick(p.now)
	if p.out.Held() != 0 || p.drops != nil {
		t.Fatalf("%d held, dropped %v", p.out.Held(), p.drops)
	}
	p.out.Revived("b~1", func(tag int) bool { return tag != 2 })
	if !slices.Equal(p.drops, []int{1, 3}) {
		t.Fatalf("revived: told %v", p.drops)
	}
	p.drops = nil
	p.out.Revived("b~1", func(int) bool { return true })
	if p.drops != nil {
		t.Fatalf("told twice: %v", p.drops)
	}
}

// TestNoNetUnderLock: the link calls its net under none of its locks: a
// net that calls back into the link (which takes them) from Publish does
// not deadlock, and messages keep their order.
func TestNoNetUnderLock(t *testing.T) {
	net := &lossy{}
	p := newPair(t, net, 1<<20, time.Hour)
	depth := 0
	net.inPub = func() {
		p.out.Held()
		if depth == 0 && net.sent < 20 {
			depth++
			p.send(net.sent + 100) // sent from inside a publish: it goes after
			depth--
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			p.send(i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a publish under the link's lock deadlocked")
	}
	p.pump(0)
	for i := 1; i < len(p.got); i++ {
		if p.got[i] == p.got[i-1] {
			t.Fatalf("delivered %v", p.got)
		}
	}
	if len(p.got) != net.sent {
		t.Fatalf("delivered %d of %d", len(p.got), net.sent)
	}
}

// TestConcurrentSenders: many goroutines send on one link while acks and
// ticks run; under the race detector, every message arrives once, in the
// order the link numbered them.
func TestConcurrentSenders(t *testing.T) {
	net := &lossy{rng: rand.New(rand.NewPCG(7, 7)), loss: 0.1}
	p := newPair(t, net, 1<<20, time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				p.send(g*1000 + i)
			}
		}()
	}
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			p.pump(time.Millisecond)
			mu.Unlock()
		}
	}()
	wg.Wait()
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	for range 5000 {
		p.pump(ResendAfter)
		if p.out.Held() == 0 {
			break
		}
	}
	if len(p.got) != 800 || p.out.Held() != 0 {
		t.Fatalf("delivered %d of 800, %d held", len(p.got), p.out.Held())
	}
	seen := map[uint64]bool{}
	last := map[uint64]uint64{}
	for _, v := range p.got {
		if seen[v] {
			t.Fatalf("%d delivered twice", v)
		}
		seen[v] = true
		if g := v / 1000; v < last[g] {
			t.Fatalf("sender %d out of order: %d after %d", g, v, last[g])
		}
		last[v/1000] = v
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Header(nil, 1, "n1~0a", 3, 9))
	f.Add(ackMsg("n1~0a", 3, 9, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		Decode(b)
		DecodeAck(b)
	})
}
