package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/postgres"
	"github.com/promgate/promgate/internal/store/storetest"
)

// baseURL returns the test server's URL, or skips (fails in CI) without one.
// The PostgreSQL store is only ever tested against a real server.
func baseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PROMGATE_TEST_POSTGRES_URL")
	if u != "" {
		return u
	}
	const how = `start one with: eval "$(bash .ci/postgres.sh)"`
	if os.Getenv("CI") == "true" {
		t.Fatal("PROMGATE_TEST_POSTGRES_URL is not set and CI=true: the PostgreSQL store must be tested in CI; " + how)
	}
	t.Skip("PROMGATE_TEST_POSTGRES_URL is not set; skipping PostgreSQL tests (" + how + ")")
	return ""
}

// freshSchema creates an empty schema, dropped when t ends, and returns a URL
// whose connections use it. Each store under test gets its own, so tests and
// concurrent test runs never see each other's rows.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := baseURL(t)
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := fmt.Sprintf("promgate_test_%d_%s", os.Getpid(), hex.EncodeToString(b))

	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PROMGATE_TEST_POSTGRES_URL: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema: %v", err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse PROMGATE_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	// pgx sends unknown URL parameters as run-time parameters at connect.
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openAt(t *testing.T, u string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), u, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	baseURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAt(t, freshSchema(t))
	})
}

// TestShared opens the same schema twice: two pools, as two replicas have.
func TestShared(t *testing.T) {
	baseURL(t)
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		u := freshSchema(t)
		return openAt(t, u), openAt(t, u)
	})
}
