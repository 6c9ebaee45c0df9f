package embedded

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// TestInterruptedRepairStartsOver leaves a WAL the way Prometheus' repair
// does when it fails half-way (a full disk): the segment set aside as
// N.repair and N rewritten only in part. The next start must redo the
// repair from the set-aside segment, not repair the partial copy and drop
// the rest.
func TestInterruptedRepairStartsOver(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const series, samples = 200, 20
	for j := range samples {
		app := s.Appender(context.Background())
		for i := range series {
			if _, err := app.Append(0, labels.FromStrings(labels.MetricName, "repair_test", "series", strconv.Itoa(i)), int64(j)*1000, 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	seg := filepath.Join(dir, "wal", "00000000")
	whole, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(seg, seg+".repair"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, whole[:len(whole)/2+1000], 0o644); err != nil {
		t.Fatal(err)
	}

	s, err = Open(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := s.Querier(0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "repair_test"))
	n := 0
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			n++
		}
	}
	if n != series*samples {
		t.Errorf("%d of %d samples after the interrupted repair", n, series*samples)
	}
	if _, err := os.Stat(seg + ".repair"); !os.IsNotExist(err) {
		t.Errorf("the set-aside segment is still there: %v", err)
	}
}
