// Package kv is the cluster's key-value store as the cluster needs it: a
// value per key with a revision, and writes that take effect only on the
// revision the writer read (compare-and-set). Memory is an in-process
// store for tests; JetStream adapts a NATS JetStream key-value bucket.
package kv

import (
	"context"
	"errors"
)

// Errors of a Store. Implementations wrap their own errors in them, so
// errors.Is works on both.
var (
	// ErrNotFound: the key has no value (never written, or deleted).
	ErrNotFound = errors.New("kv: no such key")
	// ErrConflict: a compare-and-set lost: the key exists (Create), or
	// its revision is no longer the one given (Update, Delete).
	ErrConflict = errors.New("kv: the key changed meanwhile")
)

// Store is a key-value store with revisions. Revisions grow with every
// write to the store; 0 is no revision. Every method is safe for
// concurrent use.
type Store interface {
	// Get returns key's value and revision, or ErrNotFound.
	Get(ctx context.Context, key string) (value []byte, rev uint64, err error)
	// Create writes key if it has no value, or fails with ErrConflict.
	Create(ctx context.Context, key string, value []byte) (rev uint64, err error)
	// Update writes key if its revision is still rev, or fails with
	// ErrConflict.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Delete removes key if its revision is still rev (0: whatever it
	// is), or fails with ErrConflict.
	Delete(ctx context.Context, key string, rev uint64) error
	// Put writes key whatever its revision.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// List returns the keys that start with prefix, which ends with a
	// '.' (a JetStream bucket lists by subject), with their values.
	List(ctx context.Context, prefix string) ([]Entry, error)
}

// Entry is one key of a listing.
type Entry struct {
	Key   string
	Value []byte
	Rev   uint64
}
