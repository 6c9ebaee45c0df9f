// Package storeopen picks and opens the store promgate is configured for:
// SQLite in the data dir or PostgreSQL from a URL, both sqlstore. It is
// apart from package store because it imports the implementation, which
// imports store.
package storeopen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
)

// SQLiteFile is the name of the SQLite database inside the data dir.
const SQLiteFile = "promgate.db"

// IsPostgres reports whether storeURL selects the PostgreSQL store.
func IsPostgres(storeURL string) bool {
	return strings.HasPrefix(storeURL, "postgres://") || strings.HasPrefix(storeURL, "postgresql://")
}

// Open opens PostgreSQL when storeURL is a postgres:// or postgresql:// URL
// (its connection errors marked store.ErrUnavailable),
// and otherwise, when storeURL is empty, SQLite at <dataDir>/promgate.db,
// creating dataDir (0700) and the file (0600) if needed. Any other URL is an
// error rather than a silent fallback to SQLite, so a typo cannot split
// replicas across two databases.
func Open(ctx context.Context, storeURL, dataDir string, logger *slog.Logger) (store.Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := CheckURL(storeURL); err != nil {
		return nil, err
	}
	if IsPostgres(storeURL) {
		s, err := sqlstore.OpenPostgres(ctx, storeURL, logger)
		if err != nil {
			return nil, err
		}
		logger.InfoContext(ctx, "opened store", "store", "postgres", "url", redact(storeURL))
		return store.WithUnavailable(s, sqlstore.IsPostgresUnavailable), nil
	}
	if dataDir == "" {
		return nil, errors.New("open store: empty data dir")
	}
	// 0700: the directory holds password and token hashes.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data dir: %w", err)
	}
	path := filepath.Join(dataDir, SQLiteFile)
	s, err := sqlstore.OpenSQLite(ctx, path, logger)
	if err != nil {
		return nil, err
	}
	logger.InfoContext(ctx, "opened store", "store", "sqlite", "path", path)
	return s, nil
}

// CheckURL refuses a store URL of a kind promgate does not know, without
// opening anything.
func CheckURL(storeURL string) error {
	if storeURL == "" || IsPostgres(storeURL) {
		return nil
	}
	return fmt.Errorf("open store: unsupported store URL %q: want postgres://, postgresql:// or none for SQLite in the data dir", redact(storeURL))
}

// redact returns storeURL with any password replaced, for logs and errors.
func redact(storeURL string) string {
	u, err := url.Parse(storeURL)
	if err != nil {
		// Unparseable: better to show nothing than a password.
		return "<unparseable URL>"
	}
	return u.Redacted()
}
