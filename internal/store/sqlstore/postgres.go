package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/promgate/promgate/internal/store"
)

// migrationLockKey names the advisory lock replicas take while migrating
// ("promgate" in ASCII), so that several starting at once apply each step
// exactly once.
const migrationLockKey int64 = 0x70726f6d67617465

// DefaultConnectTimeout bounds a PostgreSQL connection attempt when the URL
// sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// postgresDialect: TIMESTAMPTZ, BIGINT[] and JSONB columns, $n placeholders.
func postgresDialect() *dialect {
	return &dialect{
		name:    "postgres",
		dollar:  true,
		timeArg: func(t time.Time) any { return t },
		idsArg: func(ids []int64) (any, error) {
			if ids == nil {
				return nil, nil // NULL: no restriction, where '{}' is none
			}
			return ids, nil
		},
		idsCol:          "data_source_ids::text",
		decodeIDs:       decodeInt8Array,
		headersCol:      "headers::text",
		headersParam:    "?::jsonb",
		forUpdate:       " FOR UPDATE",
		violation:       postgresViolation,
		migrations:      postgresMigrations(),
		migrationsTable: postgresMigrationsTable,
		lockMigrations:  fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrationLockKey),
		recordMigration: func(ctx context.Context, tx *sql.Tx, m migration) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		},
	}
}

// decodeInt8Array reads the text form of a BIGINT[] ("{2,3}", "{}"; NULL
// is nil); a NULL element (which promgate never writes) is an error.
func decodeInt8Array(s *string) ([]int64, error) {
	if s == nil {
		return nil, nil
	}
	body, open := strings.CutPrefix(*s, "{")
	body, closed := strings.CutSuffix(body, "}")
	if !open || !closed {
		return nil, fmt.Errorf("decode data source ids: not an array: %q", *s)
	}
	ids := []int64{}
	if body == "" {
		return ids, nil
	}
	for f := range strings.SplitSeq(body, ",") {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decode data source ids %q: %w", *s, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func postgresViolation(err error) violation {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return uniqueViolation
		case "23503":
			return foreignKeyViolation
		}
	}
	return noViolation
}

// IsPostgresUnavailable reports whether err means the database could not
// be reached or is not serving right now (down, restarting, unreachable,
// out of connections, too slow to answer), as opposed to a statement or
// data problem. storeopen marks such errors store.ErrUnavailable.
func IsPostgresUnavailable(err error) bool {
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
	// database/sql's own word for a connection that broke under it, once
	// its retries on fresh connections are spent.
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// OpenPostgres connects to the database at url (postgres://...; pgx's usual
// parameters apply, search_path included, and pgxpool's pool_max_conns,
// pool_max_conn_lifetime and pool_max_conn_idle_time size the pool) and
// brings its schema up to date.
func OpenPostgres(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// pgxpool's parser takes the pool_* parameters out of the URL (pgx
	// would send them to the server) and gives pgxpool's defaults; pgx
	// redacts the password in its parse errors; never echo url ourselves.
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	cfg := pcfg.ConnConfig
	if cfg.ConnectTimeout == 0 {
		// Without connect_timeout in the URL pgx waits for the operating
		// system, minutes for a host that drops packets: every request
		// would hang that long instead of answering 503.
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(int(pcfg.MaxConns))
	db.SetMaxIdleConns(int(pcfg.MaxConns))
	db.SetConnMaxLifetime(pcfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(pcfg.MaxConnIdleTime)
	name := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, markUnavailable(fmt.Errorf("open postgres store %s: %w", name, err))
	}
	d := postgresDialect()
	if err := migrate(ctx, db, d, logger); err != nil {
		_ = db.Close()
		return nil, markUnavailable(fmt.Errorf("open postgres store: %w", err))
	}
	s, err := newStore(ctx, db, db, d, name)
	if err != nil {
		_ = db.Close()
		return nil, markUnavailable(fmt.Errorf("open postgres store %s: %w", name, err))
	}
	return s, nil
}

func markUnavailable(err error) error {
	if IsPostgresUnavailable(err) {
		return store.Unavailable(err)
	}
	return err
}
