package kv

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStream is a Store on a NATS JetStream key-value bucket.
type JetStream struct{ KV jetstream.KeyValue }

var _ Store = JetStream{}

// jsWrongLastSequence is JetStream's error code for a write on a revision
// that is no longer the key's last.
const jsWrongLastSequence jetstream.ErrorCode = 10071

func wrap(err error) error {
	var api *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch),
		errors.As(err, &api) && api.ErrorCode == jsWrongLastSequence:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// Get implements Store.
func (j JetStream) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := j.KV.Get(ctx, key)
	if err != nil {
		return nil, 0, wrap(err)
	}
	return e.Value(), e.Revision(), nil
}

// Create implements Store.
func (j JetStream) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := j.KV.Create(ctx, key, value)
	return rev, wrap(err)
}

// Update implements Store.
func (j JetStream) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	rev, err := j.KV.Update(ctx, key, value, rev)
	return rev, wrap(err)
}

// Delete implements Store.
func (j JetStream) Delete(ctx context.Context, key string, rev uint64) error {
	if rev == 0 {
		return wrap(j.KV.Delete(ctx, key))
	}
	return wrap(j.KV.Delete(ctx, key, jetstream.LastRevision(rev)))
}

// Put implements Store.
func (j JetStream) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := j.KV.Put(ctx, key, value)
	return rev, wrap(err)
}

// List implements Store: it watches the keys under prefix until the
// watcher has sent every current one.
func (j JetStream) List(ctx context.Context, prefix string) ([]Entry, error) {
	w, err := j.KV.WatchFiltered(ctx, []string{prefix + ">"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, wrap(err)
	}
	defer w.Stop()
	var out []Entry
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out, nil // every current key listed
			}
			out = append(out, Entry{Key: e.Key(), Value: e.Value(), Rev: e.Revision()})
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}
