package kv

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Memory is a Store in this process. The zero value is empty and ready.
//
// Lock order: mu is a leaf; the fault hook (Fail) runs without it.
type Memory struct {
	mu   sync.Mutex
	rev  uint64
	keys map[string]entry
	// Fail, when set, is asked before every operation (its name: "get",
	// "create", "update", "delete", "put", "list") and fails it with the
	// error it returns: a test's way to cut the store off.
	Fail func(op, key string) error
}

type entry struct {
	value []byte
	rev   uint64
}

var _ Store = (*Memory)(nil)

func (m *Memory) fail(op, key string) error {
	if m.Fail != nil {
		return m.Fail(op, key)
	}
	return nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) ([]byte, uint64, error) {
	if err := m.fail("get", key); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.keys[key]
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return bytes.Clone(e.value), e.rev, nil
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, key string, value []byte) (uint64, error) {
	if err := m.fail("create", key); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[key]; ok {
		return 0, fmt.Errorf("%w: %s exists", ErrConflict, key)
	}
	return m.setLocked(key, value), nil
}

// Update implements Store.
func (m *Memory) Update(_ context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := m.fail("update", key); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.keys[key]; !ok || e.rev != rev {
		return 0, fmt.Errorf("%w: %s is not at revision %d", ErrConflict, key, rev)
	}
	return m.setLocked(key, value), nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string, rev uint64) error {
	if err := m.fail("delete", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.keys[key]; rev != 0 && (!ok || e.rev != rev) {
		return fmt.Errorf("%w: %s is not at revision %d", ErrConflict, key, rev)
	}
	m.rev++ // a delete is a write
	delete(m.keys, key)
	return nil
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, key string, value []byte) (uint64, error) {
	if err := m.fail("put", key); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.setLocked(key, value), nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, prefix string) ([]Entry, error) {
	if err := m.fail("list", prefix); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for k, e := range m.keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, Entry{Key: k, Value: bytes.Clone(e.value), Rev: e.rev})
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Len is the number of keys with a value.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

func (m *Memory) setLocked(key string, value []byte) uint64 {
	if m.keys == nil {
		m.keys = map[string]entry{}
	}
	m.rev++
	m.keys[key] = entry{bytes.Clone(value), m.rev}
	return m.rev
}
