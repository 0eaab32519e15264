package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type fault struct {
	name   string
	weight int
	do     func() (string, error) // what it did, in detail
}

type faultSet []fault

func (fs faultSet) pick() fault {
	total := 0
	for _, f := range fs {
		total += f.weight
	}
	n := rand.IntN(total)
	for _, f := range fs {
		if n < f.weight {
			return f
		}
		n -= f.weight
	}
	return fs[0]
}

func between(lo, hi time.Duration) time.Duration { return lo + rand.N(hi-lo) }

// faults are the ways the chaos loop breaks the system; each heals what
// it broke before it returns.
func (s *system) faults(t *testing.T) faultSet {
	node := func() *proc { return s.nodes[rand.IntN(len(s.nodes))] }
	return faultSet{
		{"kill -9 and restart under the same id", 25, func() (string, error) {
			p := node()
			p.kill()
			d := between(0, time.Second)
			<-time.After(d)
			return fmt.Sprintf("%s after %v", p.id, d.Round(time.Millisecond)), p.start()
		}},
		{"drain and restart", 15, func() (string, error) {
			p := node()
			p.drain()
			return p.id, p.start()
		}},
		{"partition a node from NATS", 20, func() (string, error) {
			i := rand.IntN(len(s.links))
			d := between(time.Second, 4*time.Second)
			s.links[i].partition()
			<-time.After(d)
			s.links[i].heal()
			return fmt.Sprintf("%s for %v", s.nodes[i].id, d.Round(time.Millisecond)), nil
		}},
		{"freeze a node (SIGSTOP) past node_dead_after", 15, func() (string, error) {
			p, d := node(), between(1700*time.Millisecond, 2200*time.Millisecond)
			p.freeze(d)
			return fmt.Sprintf("%s for %v", p.id, d.Round(time.Millisecond)), nil
		}},
		{"restart NATS", 15, func() (string, error) {
			s.stopNATS()
			d := between(500*time.Millisecond, 3*time.Second)
			<-time.After(d)
			return fmt.Sprintf("down %v", d.Round(time.Millisecond)), s.startNATS("")
		}},
		{"restart NATS without its data", 10, func() (string, error) {
			s.stopNATS()
			d := between(500*time.Millisecond, 2*time.Second)
			<-time.After(d)
			return fmt.Sprintf("down %v", d.Round(time.Millisecond)), s.startNATS(t.TempDir())
		}},
	}
}

// audit reads the membership bucket: it must hold the pairs' rooms with
// two members each, every one of a running incarnation, and nothing else.
func (s *system) audit(t *testing.T, rec *recorder, pairs int) {
	live := map[string]bool{}
	for _, p := range s.nodes {
		live[p.Incarnation()] = true
	}
	nc, err := nats.Connect("nats://" + s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "duet_rooms")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Fatal(err)
	}
	rooms := 0
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Members []struct{ ID string } `json:"members"`
		}
		if b := e.Value(); len(b) > 0 && b[0] != '{' { // the value of earlier versions
			for _, id := range strings.Fields(string(b)) {
				v.Members = append(v.Members, struct{ ID string }{id})
			}
		} else if err := json.Unmarshal(b, &v); err != nil {
			rec.violation("room %s: value %q: %v", k, b, err)
			continue
		}
		if !strings.HasPrefix(k, "live.chaos") || len(v.Members) != 2 {
			rec.violation("room %s holds %d members after the faults: %s", k, len(v.Members), e.Value())
		}
		for _, m := range v.Members {
			inc := m.ID
			if i := strings.LastIndexByte(m.ID, '/'); i > 0 {
				inc = m.ID[:i]
			}
			if !live[inc] {
				rec.violation("room %s holds %s, a member of a dead incarnation", k, m.ID)
			}
		}
		rooms++
	}
	if rooms != pairs {
		rec.violation("bucket holds %d rooms, want %d", rooms, pairs)
	}
}
