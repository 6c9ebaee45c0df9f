package datadir

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestAcquireRefusesSecondHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file, so a second open in this same
	// process is refused like another process would be.
	_, err = Acquire(dir)
	if err == nil || !strings.Contains(err.Error(), "in use by process "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Acquire: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	_ = l2.Release()
}

func TestEarlierState(t *testing.T) {
	write := func(t *testing.T, path string, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"fresh", func(*testing.T, string) {}, nil},
		{"empty WAL segment from a first open", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "tsdb", "wal", "00000000"), "")
			write(t, filepath.Join(dir, "promgate.db"), "")
		}, nil},
		{"WAL with records", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "tsdb", "wal", "00000000"), "records")
		}, []string{"a TSDB WAL"}},
		{"checkpoint only", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "tsdb", "wal", "checkpoint.00000003", "00000000"), "records")
		}, []string{"a TSDB WAL"}},
		{"blocks and key", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "secret.key"), "k")
			write(t, filepath.Join(dir, "tsdb", "01JABCDEF", "meta.json"), "{}")
		}, []string{"secret.key", "1 TSDB block"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			got, err := EarlierState(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("EarlierState = %q, want %q", got, tc.want)
			}
		})
	}
}
