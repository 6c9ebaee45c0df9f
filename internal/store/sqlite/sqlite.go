// Package sqlite is the default store: one SQLite file under the data dir,
// through the pure-Go modernc.org/sqlite driver. Several processes (the
// server and the admin CLI) may use the same file at once.
package sqlite

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
)

// busyTimeout is how long a statement waits for another connection or
// process holding the write lock before failing with SQLITE_BUSY. Writes are
// short, so this is only reached if something is badly stuck.
const busyTimeout = 10 * time.Second

// Store is a store.Store on one SQLite file.
//
// It keeps two pools: w, a single connection for writes, so that writers in
// this process queue in Go instead of spinning in SQLite's busy handler, and
// r, several read-only connections, which WAL lets run alongside a writer.
// Other processes are serialized by SQLite's file locks and busy_timeout.
type Store struct {
	w      *sql.DB
	r      *sql.DB
	path   string
	logger *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
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
	if err := retryBusy(ctx, func() error { return migrate(ctx, w, logger) }); err != nil {
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
	return &Store{w: w, r: r, path: path, logger: logger}, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	if err := errors.Join(s.r.Close(), s.w.Close()); err != nil {
		return fmt.Errorf("close sqlite store %s: %w", s.path, err)
	}
	return nil
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

// migrate applies the missing schema steps in one transaction. Because the
// transaction is BEGIN IMMEDIATE, a second process opening the same file at
// the same moment waits here and then finds the steps already applied.
func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	steps := migrations()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	latest := steps[len(steps)-1].version
	if current > latest {
		// A newer promgate has migrated this file; its schema may mean
		// things this binary does not know about.
		return fmt.Errorf("migrate: database schema version %d is newer than this binary's %d", current, latest)
	}
	for _, m := range steps {
		if m.version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: step %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migrate: record step %d: %w", m.version, err)
		}
		logger.InfoContext(ctx, "applied store schema migration", "store", "sqlite", "version", m.version, "name", m.name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// write runs fn in a write transaction and wraps any error with what.
func (s *Store) write(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", what, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	return nil
}

// bump increments the generation; called inside the transaction of every
// change that can take access away, so the two are seen together.
func bump(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE store_generation SET value = value + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("bump generation: %w", err)
	}
	return nil
}

// execOne runs an UPDATE or DELETE that must touch exactly one row and
// returns store.ErrNotFound when it touched none.
func execOne(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// mapErr turns constraint violations into the store's sentinel errors,
// keeping the driver's message for context.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// Only references to users exist: the user is gone.
			return fmt.Errorf("user %w: %v", store.ErrNotFound, err)
		}
	}
	return err
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// micros converts an optional time to an optional INTEGER.
func micros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros converts an optional INTEGER back to an optional UTC time.
func fromMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

// nullString turns an optional string into something the driver binds as
// TEXT or NULL.
func nullString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// stringPtr is the reverse of nullString.
func stringPtr(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	return &v.String
}

// Generation returns the current access generation.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	var g int64
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM store_generation WHERE id = 1`).Scan(&g); err != nil {
		return 0, fmt.Errorf("read generation: %w", err)
	}
	return g, nil
}
