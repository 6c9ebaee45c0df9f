package querycache_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/querycache"
	"github.com/promgate/promgate/internal/testkit"
)

// TestMemoryBoundedInBytes: the LRU never holds more than its bound and
// drops the least recently used entries first.
func TestMemoryBoundedInBytes(t *testing.T) {
	ctx := testkit.Context(t)
	m, err := querycache.NewMemory(10_000)
	if err != nil {
		t.Fatal(err)
	}
	val := bytes.Repeat([]byte("x"), 1000)
	for i := range 30 {
		if err := m.Set(ctx, fmt.Sprint("k", i), val); err != nil {
			t.Fatal(err)
		}
		if i == 5 { // k0 read: it stays while later ones go
			if got, _ := m.GetMulti(ctx, []string{"k0"}); got["k0"] == nil {
				t.Fatal("k0 gone too early")
			}
		}
		if m.Bytes() > 10_000 {
			t.Fatalf("after %d sets: %d bytes, over the bound", i+1, m.Bytes())
		}
	}
	got, _ := m.GetMulti(ctx, []string{"k0", "k1", "k28", "k29"})
	if got["k1"] != nil || got["k29"] == nil || got["k28"] == nil {
		t.Fatalf("LRU order: got keys %v", keys(got))
	}
	// Replacing an entry counts its bytes once.
	before := m.Bytes()
	_ = m.Set(ctx, "k29", val)
	if m.Bytes() != before {
		t.Fatalf("replacing an entry changed the bytes from %d to %d", before, m.Bytes())
	}
	// An entry larger than the cache is not kept and evicts nothing.
	_ = m.Set(ctx, "huge", bytes.Repeat([]byte("y"), 20_000))
	if got, _ := m.GetMulti(ctx, []string{"huge", "k29"}); got["huge"] != nil || got["k29"] == nil {
		t.Fatalf("huge entry: got keys %v", keys(got))
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestMemcachedSharedByReplicas: two frontends (two promgate replicas)
// over one real Memcached: what one cached, the other answers without
// asking the backend, with the same bytes.
func TestMemcachedSharedByReplicas(t *testing.T) {
	addr := startMemcached(t)
	if _, err := querycache.NewMemcached("nonsense", time.Second, time.Hour); err == nil {
		t.Fatal("an address without a port was accepted")
	}
	t0 := time.Now().Truncate(time.Minute)
	ds := embeddedSource(t, t0)
	newFront := func() *querycache.Frontend {
		mc, err := querycache.NewMemcached(addr+", ", time.Second, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f, err := querycache.New(querycache.Config{Store: mc, SplitInterval: time.Hour, Now: func() time.Time { return t0.Add(time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	a, b := newFront(), newFront()
	cnt := &counting{DataSource: ds}
	params := rangeParams(`sum by (instance) (rate(http_requests_total[5m]))`, t0.Add(-5*time.Hour), t0, 30*time.Second)
	direct := ask(t, ds, promapi.EndpointQueryRange, aligned(params))
	cold := ask(t, a.Wrap(cnt, nil), promapi.EndpointQueryRange, params)
	sameAnswer(t, "cold on replica A", direct, cold)
	if n := len(cnt.take()); n != 6 {
		t.Fatalf("cold: %d backend requests, want 6", n)
	}
	warm := ask(t, b.Wrap(cnt, nil), promapi.EndpointQueryRange, params)
	if n := len(cnt.take()); n != 0 {
		t.Fatalf("replica B asked the backend %d times for what A cached", n)
	}
	if h := warm.header.Get(querycache.Header); h != "hit=6 miss=0 fetched=0/601" {
		t.Fatalf("replica B: %s %q", querycache.Header, h)
	}
	if !bytes.Equal(warm.body, cold.body) {
		t.Fatalf("replica B's answer differs from A's")
	}
	// Memcached gone: answers still come, from the backend.
	mc, err := querycache.NewMemcached(testkit.FreeAddr(t), 200*time.Millisecond, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	down, err := querycache.New(querycache.Config{Store: mc, SplitInterval: time.Hour, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	sameAnswer(t, "memcached down", direct, ask(t, down.Wrap(cnt, nil), promapi.EndpointQueryRange, params))
	if n := len(cnt.take()); n != 6 {
		t.Fatalf("memcached down: %d backend requests, want 6", n)
	}
}
