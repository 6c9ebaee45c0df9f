package embedded

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb"
)

// TestTSDBRegistererReopen: the TSDB can be opened again on the same
// registry (it does not unregister its metrics on Close), and the WAL's and
// WBL's failed-write counters are found.
func TestTSDBRegistererReopen(t *testing.T) {
	dir := t.TempDir()
	outer := prometheus.NewRegistry()
	reg := newTSDBRegisterer(outer)
	opts := tsdb.DefaultOptions()
	opts.OutOfOrderTimeWindow = 3_600_000 // the WBL exists only with out-of-order samples on
	for i := range 2 {
		reg.unregisterAll()
		db, err := tsdb.Open(dir, nil, reg, opts, nil)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if n := len(reg.failures); n != len(failedWriteMetrics) {
			t.Errorf("open %d: %d failed-write counters found, want %d", i, n, len(failedWriteMetrics))
		}
		if f := reg.failedWrites(); f != 0 {
			t.Errorf("open %d: %v failed writes on a fresh TSDB", i, f)
		}
		mfs, err := outer.Gather()
		if err != nil {
			t.Fatalf("gather after open %d: %v", i, err)
		}
		found := false
		for _, mf := range mfs {
			found = found || mf.GetName() == "prometheus_tsdb_wal_writes_failed_total"
		}
		if !found {
			t.Errorf("open %d: the WAL's metrics do not reach the outer registry", i)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
