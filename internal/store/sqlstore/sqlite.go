package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
)

// busyTimeout is how long a statement waits for another connection or
// process holding the write lock before failing with SQLITE_BUSY. Writes are
// short, so this is only reached if something is badly stuck.
const busyTimeout = 10 * time.Second

// sqliteDialect: times are INTEGER microseconds (the precision PostgreSQL
// keeps, so both round-trip the same values), lists and maps JSON text.
func sqliteDialect() *dialect {
	return &dialect{
		name:    "sqlite",
		timeArg: func(t time.Time) any { return t.UnixMicro() },
		idsArg: func(ids []int64) (any, error) {
			s, err := dbutil.EncodeIDs(ids)
			return nullString(s), err
		},
		idsCol:          "data_source_ids",
		decodeIDs:       dbutil.DecodeIDs,
		headersCol:      "headers",
		headersParam:    "?",
		prepareHot:      true,
		violation:       sqliteViolation,
		migrations:      sqliteMigrations(),
		migrationsTable: sqliteMigrationsTable,
		recordMigration: func(ctx context.Context, tx *sql.Tx, m migration) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMicro())
			return err
		},
	}
}

func sqliteViolation(err error) violation {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return uniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return foreignKeyViolation
		}
	}
	return noViolation
}

// OpenSQLite opens (creating if needed) the SQLite database file at path and
// brings its schema up to date. Several processes (the server and the admin
// CLI) may use the same file at once.
//
// The store keeps two pools: a single connection for writes, so that
// writers in this process queue in Go instead of spinning in SQLite's busy
// handler, and several read-only connections, which WAL lets run alongside
// a writer. Other processes are serialized by SQLite's file locks and
// busy_timeout.
func OpenSQLite(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	// The driver treats everything after '?' as DSN parameters.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite store %q: path must not contain '?'", path)
	}
	// Create the file ourselves so it is private from the first byte:
	// SQLite would create it 0644, and it gives the -wal and -shm files the
	// mode of the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}

	d := sqliteDialect()
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeout.Milliseconds())
	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// where busy_timeout applies. A deferred transaction that reads first
	// and then writes can fail at once with SQLITE_BUSY when another process
	// committed in between, which no timeout can fix.
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	// Keep the connection: reopening costs the pragmas and the schema parse.
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// Checked before the first write: a damaged file is refused as it is,
	// not migrated (and not mistaken for a new one).
	if err := retryBusy(ctx, func() error { return checkIntegrity(ctx, w, path) }); err != nil {
		_ = w.Close()
		if errors.Is(err, store.ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := retryBusy(ctx, func() error { return migrate(ctx, w, d, logger) }); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	// The reader pool is opened after the writer has switched the file to
	// WAL (a persistent setting), and is query_only so that a write sent to
	// the wrong pool by mistake fails loudly.
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	s, err := newStore(ctx, w, r, d, path)
	if err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return s, nil
}

// checkIntegrity runs PRAGMA quick_check (the structure of every page, in
// time linear in the file's size: about a second for 100 MB) and returns an
// error matching store.ErrCorrupt when the file is not a database or is
// damaged.
func checkIntegrity(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check(3)`)
	if err != nil {
		if isCorrupt(err) {
			return fmt.Errorf("%w: %s: %v", store.ErrCorrupt, path, err)
		}
		return fmt.Errorf("quick_check: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("quick_check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		if isCorrupt(err) {
			return fmt.Errorf("%w: %s: %v", store.ErrCorrupt, path, err)
		}
		return fmt.Errorf("quick_check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s fails quick_check: %s", store.ErrCorrupt, path, strings.Join(problems, "; "))
	}
	return nil
}

// isCorrupt reports whether err is SQLite's "database disk image is
// malformed" or "file is not a database".
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB
	}
	return false
}

// retryBusy runs fn, retrying while the file is busy. Several processes
// opening a fresh file at once (the server and the admin CLI) can see
// SQLITE_BUSY at BEGIN while one of them switches the file to WAL, a moment
// in which SQLite does not call the busy handler.
func retryBusy(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_BUSY
	}
	return false
}
