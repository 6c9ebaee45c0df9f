package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"
)

// violation is the kind of constraint a failed statement broke.
type violation int

const (
	noViolation violation = iota
	uniqueViolation
	foreignKeyViolation
)

// dialect is what SQLite and PostgreSQL spell differently. Statements are
// written once with ? placeholders (queries.go) and rebound here; values
// whose column types differ go through the arg functions; reads use the
// column expressions, so one scan serves both.
type dialect struct {
	name string // "sqlite" or "postgres"

	// dollar: PostgreSQL numbers its placeholders ($1, $2...).
	dollar bool

	// timeArg binds a time: INTEGER microseconds since the epoch in
	// SQLite, TIMESTAMPTZ in PostgreSQL (both keep microseconds).
	timeArg func(t time.Time) any
	// idsArg binds a credential's data source list: a JSON array in
	// SQLite, BIGINT[] in PostgreSQL; nil (no restriction) is NULL either
	// way and an empty list stays empty (no data source).
	idsArg func(ids []int64) (any, error)
	// idsCol reads data_source_ids as text, or NULL, and decodeIDs
	// reads that text back.
	idsCol    string
	decodeIDs func(s *string) ([]int64, error)
	// headersCol and headersParam read and write the data source headers
	// column (TEXT in SQLite, JSONB in PostgreSQL) as JSON text.
	headersCol, headersParam string
	// forUpdate locks the rows a SELECT read until the transaction ends.
	// SQLite needs none: its write transactions are serialized whole
	// (BEGIN IMMEDIATE).
	forUpdate string

	// prepareHot: prepare the per-request reads once (Store.hot).
	prepareHot bool

	// violation classifies a driver error.
	violation func(err error) violation

	// migrations is the schema history, in order (migrations.go).
	migrations []migration
	// migrationsTable creates schema_migrations if missing.
	migrationsTable string
	// lockMigrations, when set, runs first in the migration transaction
	// so that processes opening the database together apply each step
	// once. SQLite's BEGIN IMMEDIATE does the same for it.
	lockMigrations string
	// recordMigration writes the schema_migrations row of a step.
	recordMigration func(ctx context.Context, tx *sql.Tx, m migration) error
}

// rebind turns the ? placeholders of q into the dialect's own. No statement
// here has a ? inside a literal.
func (d *dialect) rebind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
