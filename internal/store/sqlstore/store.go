// Package sqlstore is the one implementation of store.Store, on
// database/sql, for both databases promgate supports: SQLite (the default,
// one file under the data dir, through the pure-Go modernc.org/sqlite) and
// PostgreSQL (several replicas sharing it, through pgx's database/sql
// driver). Every statement is written once; a small dialect holds what the
// two spell differently (placeholders, column types, row locks, the
// migration list and how a constraint violation reads), and what only
// SQLite has (pragmas, integrity check, backup) lives in sqlite.go and
// backup.go.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/promgate/promgate/internal/store"
)

// Store is a store.Store on SQLite or PostgreSQL.
//
// Writes go through w and reads through r. On SQLite they are two pools
// (see OpenSQLite); on PostgreSQL they are the same pool.
type Store struct {
	w, r *sql.DB
	d    *dialect
	q    *queries
	// hot holds the statements auth runs per request on a cache miss,
	// prepared once on SQLite, whose driver otherwise compiles a statement
	// on every call (pgx caches prepared statements per connection
	// itself); nil where not prepared.
	hot  hotStatements
	name string // what Close's error names: the file or host/database
}

var _ store.Store = (*Store)(nil)

type hotStatements struct {
	credentialByKey, userByID *sql.Stmt
}

func newStore(ctx context.Context, w, r *sql.DB, d *dialect, name string) (*Store, error) {
	s := &Store{w: w, r: r, d: d, q: newQueries(d), name: name}
	if d.prepareHot {
		var err error
		if s.hot.credentialByKey, err = r.PrepareContext(ctx, s.q.credentialByKey); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		if s.hot.userByID, err = r.PrepareContext(ctx, s.q.userByID); err != nil {
			_ = s.hot.credentialByKey.Close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	return s, nil
}

// readRow runs a one-row read through its prepared statement if there is
// one.
func (s *Store) readRow(ctx context.Context, stmt *sql.Stmt, query string, args ...any) *sql.Row {
	if stmt != nil {
		return stmt.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, query, args...)
}

// Driver names the database: "sqlite" or "postgres".
func (s *Store) Driver() string { return s.d.name }

// Close closes the pools.
func (s *Store) Close() error {
	var err error
	for _, st := range []*sql.Stmt{s.hot.credentialByKey, s.hot.userByID} {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	err = errors.Join(err, s.w.Close())
	if s.r != s.w {
		err = errors.Join(s.r.Close(), err)
	}
	if err != nil {
		return fmt.Errorf("close %s store %s: %w", s.d.name, s.name, err)
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
		return fmt.Errorf("%s: %w", what, s.mapErr(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, s.mapErr(err))
	}
	return nil
}

// mapErr turns "no rows" and constraint violations into the store's
// sentinel errors, keeping the driver's message for context.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	switch s.d.violation(err) {
	case uniqueViolation:
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	case foreignKeyViolation:
		// Only references to users exist: the user is gone.
		return fmt.Errorf("user %w: %v", store.ErrNotFound, err)
	}
	return err
}

// bump increments the generation; called inside the transaction of every
// change that can take access away, so the two are seen together.
func (s *Store) bump(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, s.q.bump); err != nil {
		return fmt.Errorf("bump generation: %w", err)
	}
	return nil
}

// execer is what *sql.Tx and *sql.DB have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// execOne runs an UPDATE or DELETE that must touch exactly one row and
// returns store.ErrNotFound when it touched none.
func execOne(ctx context.Context, db execer, query string, args ...any) error {
	res, err := db.ExecContext(ctx, query, args...)
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

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// collect reads every row of a query through scan; an empty result is an
// empty slice (JSON [] rather than null).
func collect[T any](ctx context.Context, db *sql.DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer func() { _ = rows.Close() }()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// timeCol scans a NOT NULL time column of either dialect: SQLite keeps
// INTEGER microseconds since the epoch, PostgreSQL TIMESTAMPTZ. Either way
// the time comes back in UTC.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	t, ok, err := fromDB(src)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("NULL in a NOT NULL time column")
	}
	*c.t = t
	return nil
}

// nullTimeCol is timeCol for a column that may be NULL (a nil pointer).
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	t, ok, err := fromDB(src)
	if err != nil {
		return err
	}
	if !ok {
		*c.t = nil
		return nil
	}
	*c.t = &t
	return nil
}

func fromDB(src any) (time.Time, bool, error) {
	switch v := src.(type) {
	case nil:
		return time.Time{}, false, nil
	case int64:
		return time.UnixMicro(v).UTC(), true, nil
	case time.Time:
		return v.UTC(), true, nil
	default:
		return time.Time{}, false, fmt.Errorf("time column holds %T", src)
	}
}

// nullString turns an optional string into something the drivers bind as
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
	if err := s.r.QueryRowContext(ctx, s.q.generation).Scan(&g); err != nil {
		return 0, fmt.Errorf("read generation: %w", err)
	}
	return g, nil
}
