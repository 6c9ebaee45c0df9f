package embedded

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

const (
	crashSeries  = 1000
	crashSamples = 300 // several head chunks per series
)

// TestStartOnFullDiskAfterCrash: on a full disk the TSDB stops the process
// as soon as it has to write head chunks (Prometheus' own behaviour,
// simulated here by forcing the write in a child process). A start on the
// still-full disk replays the WAL, which writes head chunks again: it must
// fail with a clear message instead of that panic, and once there is room
// every committed sample is back.
func TestStartOnFullDiskAfterCrash(t *testing.T) {
	if dir := os.Getenv("PROMGATE_TEST_CRASH_DIR"); dir != "" {
		crashOnFullDisk(t, dir)
		return
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64m,mode=0750"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a tmpfs on %s: %v (CI runs as root and must run this test)", dir, err)
		}
		t.Skipf("cannot mount a tmpfs here (%v); run as root to test a full disk", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })

	cmd := exec.Command(os.Args[0], "-test.run=^TestStartOnFullDiskAfterCrash$", "-test.v")
	cmd.Env = append(os.Environ(), "PROMGATE_TEST_CRASH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no space left on device") {
		t.Fatalf("the child should have died writing head chunks to the full disk; err %v, output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "committed") {
		t.Fatalf("the child died before committing its samples:\n%s", out)
	}

	for try := range 2 {
		s, err := Open(context.Background(), Options{Dir: filepath.Join(dir, "tsdb")})
		if err == nil {
			s.Close()
			t.Fatalf("try %d: the store opened on a full disk", try)
		}
		t.Logf("try %d: %v", try, err)
		if !strings.Contains(err.Error(), "free space") {
			t.Errorf("start on a full disk: %q does not tell what to do", err)
		}
	}

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Options{Dir: filepath.Join(dir, "tsdb")})
	if err != nil {
		t.Fatalf("start once there is room: %v", err)
	}
	defer s.Close()
	q, err := s.Querier(0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "crash_test"))
	n := 0
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			n++
		}
	}
	if n != crashSeries*crashSamples {
		t.Errorf("%d of %d committed samples after the restart", n, crashSeries*crashSamples)
	}
}

// crashOnFullDisk runs in the child: commit samples, fill the disk, then
// make the TSDB write head chunks, which it does every minute on its own.
func crashOnFullDisk(t *testing.T, dir string) {
	s, err := Open(context.Background(), Options{Dir: filepath.Join(dir, "tsdb")})
	if err != nil {
		t.Fatal(err)
	}
	base := int64(1_700_000_000_000)
	for j0 := 0; j0 < crashSamples; j0 += 50 {
		app := s.Appender(context.Background())
		for i := range crashSeries {
			l := labels.FromStrings(labels.MetricName, "crash_test", "series", strconv.Itoa(i))
			for j := j0; j < j0+50; j++ {
				if _, err := app.Append(0, l, base+int64(j)*15_000, rand.Float64()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	t.Log("committed")
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for range 1 << 16 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	s.mu.Lock()
	db := s.cur.db
	s.mu.Unlock()
	db.ForceHeadMMap() // panics on the full disk
	t.Log("head chunks written to a full disk")
}
