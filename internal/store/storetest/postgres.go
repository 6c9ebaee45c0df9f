package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/testpeer"
)

// PostgresEnv is the variable holding the URL of the PostgreSQL server
// tests use. .ci/postgres.sh starts one and prints it.
const PostgresEnv = "PROMGATE_TEST_POSTGRES_URL"

// PostgresURL returns a URL on the test server whose connections use a new,
// empty schema, dropped when t ends, so that tests and concurrent test runs
// never see each other's rows. Without PROMGATE_TEST_POSTGRES_URL it skips
// t, or fails it when CI=true: the PostgreSQL store is only ever tested
// against a real server, and CI must not silently skip it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		testpeer.Missing(t, testpeer.PostgreSQL, PostgresEnv+` is not set; start one with: eval "$(bash .ci/postgres.sh)"`)
	}
	return SchemaURL(t, base)
}

// SchemaURL returns base (a PostgreSQL URL) with a search_path set to a
// new, empty schema, dropped when t ends.
func SchemaURL(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := fmt.Sprintf("promgate_test_%d_%s", os.Getpid(), hex.EncodeToString(b))
	ident := pgx.Identifier{schema}.Sanitize()

	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("connect to %s: %w", PostgresEnv, err)
		}
		defer func() { _ = conn.Close(ctx) }()
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + ident); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + ident + " CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	// pgx sends unknown URL parameters as run-time parameters at connect.
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
