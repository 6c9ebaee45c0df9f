// Package postgres is the store for several promgate replicas sharing their
// users, credentials and data sources: PostgreSQL through pgx.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/promgate/promgate/internal/store"
)

// migrationLockKey names the advisory lock replicas take while migrating
// ("promgate" in ASCII), so that several starting at once apply each step
// exactly once.
const migrationLockKey int64 = 0x70726f6d67617465

// DefaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// IsUnavailable reports whether err means the database could not be
// reached or is not serving right now (down, restarting, unreachable, out
// of connections, too slow to answer), as opposed to a statement or data
// problem. storeopen marks such errors store.ErrUnavailable.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin or crash shutdown, cannot connect now
			return true
		case pe.Code == "53300": // too many connections
			return true
		}
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://...; pgx's usual
// parameters apply, search_path included) and brings its schema up to date.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// pgx redacts the password in its parse errors; never echo url ourselves.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout in the URL pgx waits for the operating
		// system, minutes for a host that drops packets: every request
		// would hang that long instead of answering 503.
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		err = fmt.Errorf("open postgres store %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
		if IsUnavailable(err) {
			err = store.Unavailable(err)
		}
		return nil, err
	}
	if err := migrate(ctx, pool, logger); err != nil {
		pool.Close()
		err = fmt.Errorf("open postgres store: %w", err)
		if IsUnavailable(err) {
			err = store.Unavailable(err)
		}
		return nil, err
	}
	return &Store{pool: pool, logger: logger}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies the missing schema steps in one transaction holding an
// advisory lock: replicas starting together queue on it, and the later ones
// find the steps applied. The lock is released with the transaction.
func migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	steps := migrations()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT      PRIMARY KEY,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`); err != nil {
			return fmt.Errorf("migrate: create schema_migrations: %w", err)
		}
		var current int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("migrate: read version: %w", err)
		}
		latest := steps[len(steps)-1].version
		if current > latest {
			// A newer promgate has migrated this database; its schema may
			// mean things this binary does not know about.
			return fmt.Errorf("migrate: database schema version %d is newer than this binary's %d", current, latest)
		}
		for _, m := range steps {
			if m.version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migrate: step %d (%s): %w", m.version, m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("migrate: record step %d: %w", m.version, err)
			}
			logger.InfoContext(ctx, "applied store schema migration", "store", "postgres", "version", m.version, "name", m.name)
		}
		return nil
	})
}

// write runs fn in a transaction and wraps any error with what.
func (s *Store) write(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	if err := pgx.BeginFunc(ctx, s.pool, fn); err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	return nil
}

// bump increments the generation; called inside the transaction of every
// change that can take access away, so the two are seen together.
func bump(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `UPDATE store_generation SET value = value + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("bump generation: %w", err)
	}
	return nil
}

// execer is what pgx.Tx and *pgxpool.Pool have in common.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// execOne runs an UPDATE or DELETE that must touch exactly one row and
// returns store.ErrNotFound when it touched none.
func execOne(ctx context.Context, db execer, query string, args ...any) error {
	tag, err := db.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// mapErr turns constraint violations into the store's sentinel errors,
// keeping the server's message for context.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %v", store.ErrConflict, err)
		case "23503": // foreign_key_violation: only references to users exist
			return fmt.Errorf("user %w: %v", store.ErrNotFound, err)
		}
	}
	return err
}

// utc converts a time read from PostgreSQL (in the session's zone) to UTC.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// Generation returns the current access generation.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	var g int64
	if err := s.pool.QueryRow(ctx, `SELECT value FROM store_generation WHERE id = 1`).Scan(&g); err != nil {
		return 0, fmt.Errorf("read generation: %w", err)
	}
	return g, nil
}
