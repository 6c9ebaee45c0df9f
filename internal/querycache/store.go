package querycache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Store keeps cached answer parts by key. Keys are hex digests (no spaces
// or control characters, 64 bytes); a lost entry only costs a backend
// request, so errors are for metrics and logs, never for the caller.
type Store interface {
	// GetMulti returns the entries found.
	GetMulti(ctx context.Context, keys []string) (map[string][]byte, error)
	Set(ctx context.Context, key string, value []byte) error
	// Bytes is what the store holds, where it knows (0 for Memcached).
	Bytes() int64
	Close() error
}

// Memory is an in-process LRU bounded in bytes.
type Memory struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, []byte]
	bytes    int64
	maxBytes int64
}

// entryOverhead is the bookkeeping of one entry, counted with its bytes.
const entryOverhead = 128

// NewMemory returns an LRU holding at most maxBytes of entries.
func NewMemory(maxBytes int64) (*Memory, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("query cache size must be positive, got %d bytes", maxBytes)
	}
	m := &Memory{maxBytes: maxBytes}
	// The count bound is never the one reached: bytes are.
	lru, err := simplelru.NewLRU(math.MaxInt32, func(key string, value []byte) {
		m.bytes -= int64(len(key) + len(value) + entryOverhead)
	})
	if err != nil {
		return nil, fmt.Errorf("query cache: %w", err)
	}
	m.lru = lru
	return m, nil
}

// GetMulti implements Store.
func (m *Memory) GetMulti(_ context.Context, keys []string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if v, ok := m.lru.Get(k); ok {
			out[k] = v
		}
	}
	return out, nil
}

// Set implements Store. An entry larger than the whole cache is dropped.
func (m *Memory) Set(_ context.Context, key string, value []byte) error {
	size := int64(len(key) + len(value) + entryOverhead)
	if size > m.maxBytes {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(key) // its bytes leave through the eviction callback
	m.lru.Add(key, value)
	m.bytes += size
	for m.bytes > m.maxBytes {
		if _, _, ok := m.lru.RemoveOldest(); !ok {
			break
		}
	}
	return nil
}

// Bytes implements Store.
func (m *Memory) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// Close implements Store.
func (m *Memory) Close() error { return nil }

// Memcached shares entries between replicas through Memcached servers
// (keys spread over them by gomemcache's server selector).
type Memcached struct {
	client *memcache.Client
	ttl    time.Duration
}

// NewMemcached checks the addresses (host:port, comma separated) and
// returns a store over them; entries expire after ttl.
func NewMemcached(addrs string, timeout, ttl time.Duration) (*Memcached, error) {
	var list []string
	for a := range strings.SplitSeq(addrs, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("memcached address %q: want host:port", a)
		}
		list = append(list, a)
	}
	if len(list) == 0 {
		return nil, errors.New("no memcached address given: want host:port[,host:port...]")
	}
	var sel memcache.ServerList
	if err := sel.SetServers(list...); err != nil {
		return nil, fmt.Errorf("memcached servers: %w", err)
	}
	c := memcache.NewFromSelector(&sel)
	c.Timeout = timeout
	c.MaxIdleConns = 16
	return &Memcached{client: c, ttl: ttl}, nil
}

// GetMulti implements Store.
func (m *Memcached) GetMulti(_ context.Context, keys []string) (map[string][]byte, error) {
	items, err := m.client.GetMulti(keys)
	out := make(map[string][]byte, len(items))
	for k, it := range items {
		out[k] = it.Value
	}
	if err != nil {
		return out, fmt.Errorf("memcached get: %w", err)
	}
	return out, nil
}

// Set implements Store.
func (m *Memcached) Set(_ context.Context, key string, value []byte) error {
	if err := m.client.Set(&memcache.Item{Key: key, Value: value, Expiration: int32(m.ttl / time.Second)}); err != nil {
		return fmt.Errorf("memcached set: %w", err)
	}
	return nil
}

// Bytes implements Store: Memcached keeps its own account (its stats).
func (m *Memcached) Bytes() int64 { return 0 }

// Close implements Store.
func (m *Memcached) Close() error { return m.client.Close() }
