package kv_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/cluster/kv"
)

// contract is what the cluster relies on from a Store, checked on each
// implementation.
func contract(t *testing.T, s kv.Store) {
	ctx := context.Background()
	if _, _, err := s.Get(ctx, "live.r"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get of nothing: %v", err)
	}
	r1, err := s.Create(ctx, "live.r", []byte("a"))
	if err != nil || r1 == 0 {
		t.Fatalf("create: %d %v", r1, err)
	}
	if _, err := s.Create(ctx, "live.r", []byte("b")); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	v, rev, err := s.Get(ctx, "live.r")
	if err != nil || string(v) != "a" || rev != r1 {
		t.Fatalf("get: %q %d %v", v, rev, err)
	}
	r2, err := s.Update(ctx, "live.r", []byte("b"), r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("update: %d %v", r2, err)
	}
	if _, err := s.Update(ctx, "live.r", []byte("c"), r1); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("update on a stale revision: %v", err)
	}
	if err := s.Delete(ctx, "live.r", r1); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("delete on a stale revision: %v", err)
	}
	if err := s.Delete(ctx, "live.r", r2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, _, err := s.Get(ctx, "live.r"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := s.Update(ctx, "live.r", []byte("d"), r2); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("update of a deleted key: %v", err)
	}
	// A deleted room is created afresh by its next joiner.
	if _, err := s.Create(ctx, "live.r", []byte("e")); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	for _, k := range []string{"=held.live.a", "=held.live.b", "=held.other.c"} {
		if _, err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "=held.live.a", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "=held.live.b", 0); err != nil {
		t.Fatal(err)
	}
	list := func(prefix string) []string {
		es, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Key+"="+string(e.Value))
		}
		slices.Sort(out)
		return out
	}
	if got := list("=held."); !slices.Equal(got, []string{"=held.live.a=again", "=held.other.c==held.other.c"}) {
		t.Fatalf("list: %q", got)
	}
	if got := list("=held.live."); !slices.Equal(got, []string{"=held.live.a=again"}) {
		t.Fatalf("list of an app: %q", got)
	}
	if got := list("=none."); got != nil {
		t.Fatalf("list of nothing: %q", got)
	}
}

func TestMemory(t *testing.T) { contract(t, &kv.Memory{}) }

func TestJetStream(t *testing.T) {
	e, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	nc, err := nats.Connect(e.URL())
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
	b, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "test", History: 1, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	contract(t, kv.JetStream{KV: b})
}

// TestMemoryFail: a test can cut the memory store off.
func TestMemoryFail(t *testing.T) {
	down := errors.New("down")
	m := &kv.Memory{Fail: func(op, key string) error { return down }}
	if _, _, err := m.Get(context.Background(), "k"); !errors.Is(err, down) {
		t.Fatal(err)
	}
}
