package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/store/sqlstore"
	"github.com/promgate/promgate/internal/store/storetest"
)

// TestPostgresConcurrentOpen starts several replicas on an empty schema at once:
// the advisory lock lets exactly one apply each migration.
func TestPostgresConcurrentOpen(t *testing.T) {
	u := storetest.PostgresURL(t)
	ctx := context.Background()
	const n = 6
	stores := make([]*sqlstore.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlstore.OpenPostgres(ctx, u, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
			continue
		}
		_ = stores[i].Close()
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var steps, maxVersion int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&steps, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if steps != maxVersion {
		t.Errorf("schema_migrations has %d rows up to version %d", steps, maxVersion)
	}
}

func TestPostgresNewerSchemaRefused(t *testing.T) {
	u := storetest.PostgresURL(t)
	ctx := context.Background()
	s, err := sqlstore.OpenPostgres(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations(version, name) VALUES (9999, 'from the future')`); err != nil {
		t.Fatal(err)
	}
	s, err = sqlstore.OpenPostgres(ctx, u, nil)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded on a schema newer than the binary")
	}
	if !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("error %q", err)
	}
}

// TestPostgresOpenErrorHidesPassword needs no server: the error for an unreachable
// or malformed URL must not carry the password into logs.
func TestPostgresOpenErrorHidesPassword(t *testing.T) {
	const secret = "s3cr3t-pw"
	tests := []struct {
		name string
		url  string
	}{
		{"Unreachable", "postgres://promgate:" + secret + "@127.0.0.1:1/promgate?connect_timeout=2&sslmode=disable"},
		{"BadParam", "postgres://promgate:" + secret + "@127.0.0.1:1/promgate?connect_timeout=notanumber"},
		{"BadPort", "postgres://promgate:" + secret + "@127.0.0.1:99999999/promgate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := sqlstore.OpenPostgres(ctx, tc.url, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}
