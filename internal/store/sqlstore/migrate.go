package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// migration is one numbered schema step. Steps are applied in order, each
// recorded in schema_migrations, all in the one transaction Open runs.
type migration struct {
	version int64
	name    string
	sql     string
}

// migrate applies the missing schema steps in one transaction. On SQLite
// the transaction is BEGIN IMMEDIATE, on PostgreSQL it first takes an
// advisory lock: either way a second process opening the same database at
// the same moment waits here and then finds the steps already applied.
func migrate(ctx context.Context, db *sql.DB, d *dialect, logger *slog.Logger) error {
	steps := d.migrations
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, d.lockMigrations); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.migrationsTable); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	latest := steps[len(steps)-1].version
	if current > latest {
		// A newer promgate has migrated this database; its schema may mean
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
		if err := d.recordMigration(ctx, tx, m); err != nil {
			return fmt.Errorf("migrate: record step %d: %w", m.version, err)
		}
		logger.InfoContext(ctx, "applied store schema migration", "store", d.name, "version", m.version, "name", m.name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
