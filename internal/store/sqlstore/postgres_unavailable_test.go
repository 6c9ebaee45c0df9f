package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
)

// TestIsPostgresUnavailable: connection trouble is "unavailable", statement and
// data errors are not. TestPostgresOutage (internal/app) stops a real
// server; this pins the cases it cannot reach on demand.
func TestIsPostgresUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"network error", fmt.Errorf("read generation: %w", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}), true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, false},
		{"no rows", pgx.ErrNoRows, false},
		{"caller canceled", context.Canceled, false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		if got := sqlstore.IsPostgresUnavailable(tc.err); got != tc.want {
			t.Errorf("%s: IsPostgresUnavailable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPostgresOpenUnreachable: a server that is not there is store.ErrUnavailable
// at open, so start-up can say so.
func TestPostgresOpenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, err = sqlstore.OpenPostgres(context.Background(), "postgres://u:pw@"+addr+"/db?sslmode=disable", nil)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open = %v, want store.ErrUnavailable", err)
	}
}
