package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
)

// rawDB opens the file without the store, to look at what it left behind.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestSQLiteFileIsPrivateAndWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "promgate.db")
	s := openSQLite(t, path)
	// A write makes SQLite create the -wal and -shm files.
	if _, err := s.CreateUser(ctx, store.User{Login: "a", Role: "OWNER"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (it holds password and token hashes)", filepath.Base(p), perm)
		}
	}
	var mode string
	if err := rawDB(t, path).QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
}

func TestSQLiteReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "promgate.db")
	s1, err := sqlstore.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s1.CreateUser(ctx, store.User{Login: "keep", Role: "OWNER"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openSQLite(t, path)
	if got, err := s2.GetUser(ctx, u.ID); err != nil || got.Login != "keep" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	var steps, maxVersion int
	if err := rawDB(t, path).QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&steps, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if steps != maxVersion {
		t.Errorf("schema_migrations has %d rows up to version %d: a step was applied twice or skipped", steps, maxVersion)
	}
}

// TestSQLiteConcurrentOpen starts several "processes" on a fresh file at once:
// exactly one applies the migrations, the others wait and find them done.
func TestSQLiteConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "promgate.db")
	const n = 6
	stores := make([]*sqlstore.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlstore.OpenSQLite(ctx, path, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
			continue
		}
		if err := stores[i].Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestSQLiteOpenErrors(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	s, err := sqlstore.OpenSQLite(context.Background(), newer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, newer).Exec(`INSERT INTO schema_migrations(version, name, applied_at) VALUES (9999, 'from the future', 0)`); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"Empty", "", "empty path"},
		{"QuestionMark", filepath.Join(dir, "a?b.db"), "must not contain"},
		{"MissingDir", filepath.Join(dir, "no", "such", "dir", "x.db"), "no such file"},
		{"NewerSchema", newer, "newer than this binary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlstore.OpenSQLite(context.Background(), tc.path, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestSQLiteCanceledContext(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "promgate.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CreateUser(ctx, store.User{Login: "x", Role: "OWNER"}); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateUser with canceled context: %v, want context.Canceled", err)
	}
}

// TestSQLiteOpenRefusesDamagedFile: a file that is not a database, or fails
// quick_check, is refused with store.ErrCorrupt and left as it was.
func TestSQLiteOpenRefusesDamagedFile(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
	}{
		{"garbage header", func(t *testing.T, path string, _ int64) { overwrite(t, path, 0, 100) }},
		{"garbage page in the middle", func(t *testing.T, path string, size int64) { overwrite(t, path, (size/2)&^4095, 4096) }},
		{"truncated", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size/2+100); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "promgate.db")
			s, err := sqlstore.OpenSQLite(ctx, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 300 {
				if _, err := s.CreateUser(ctx, store.User{Login: fmt.Sprintf("user-%03d-%s", i, strings.Repeat("x", 100)), Role: "VIEWER"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() < 32<<10 {
				t.Fatalf("only %d bytes: too small to damage in the middle", fi.Size())
			}
			tc.damage(t, path, fi.Size())
			before, _ := os.ReadFile(path)
			_, err = sqlstore.OpenSQLite(ctx, path, nil)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open = %v, want store.ErrCorrupt naming the file", err)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Error("Open changed the damaged file")
			}
		})
	}
}

// overwrite writes n bytes of garbage at off.
func overwrite(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0xA5 ^ i)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
