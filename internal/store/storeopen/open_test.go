package storeopen_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
	"github.com/promgate/promgate/internal/store/storeopen"
	"github.com/promgate/promgate/internal/store/storetest"
)

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	// A data dir that does not exist yet, two levels deep.
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s, err := storeopen.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if ss, ok := s.(*sqlstore.Store); !ok || ss.Driver() != "sqlite" {
		t.Fatalf("got %T, want *sqlstore.Store on sqlite", s)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, storeopen.SQLiteFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	if _, err := s.CreateUser(ctx, store.User{Login: "admin", Role: "OWNER"}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, url, dataDir, wantErr string
	}{
		{"UnknownScheme", "mysql://root:hunter2@db/promgate", t.TempDir(), "unsupported store URL"},
		{"SchemeCaseMatters", "file:promgate.db", t.TempDir(), "unsupported store URL"},
		{"EmptyDataDir", "", "", "empty data dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := storeopen.Open(context.Background(), tc.url, tc.dataDir, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

func TestIsPostgres(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"postgres://u:p@h/db", true},
		{"postgresql://h/db?sslmode=disable", true},
		{"", false},
		{"sqlite:///tmp/x.db", false},
		{"postgres:/h", false},
		{"/var/lib/postgres://x", false},
	}
	for _, tc := range tests {
		if got := storeopen.IsPostgres(tc.url); got != tc.want {
			t.Errorf("IsPostgres(%q) = %v, want %v", tc.url, got, tc.want)
		}
	}
}

// TestOpenPostgres checks the routing only; the store itself is tested in
// package sqlstore.
func TestOpenPostgres(t *testing.T) {
	u := storetest.PostgresURL(t)
	var logs bytes.Buffer
	s, err := storeopen.Open(context.Background(), u, t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if ss, ok := store.Unwrap(s).(*sqlstore.Store); !ok || ss.Driver() != "postgres" {
		t.Fatalf("got %T, want *sqlstore.Store on postgres", s)
	}
	if _, err := s.Generation(context.Background()); err != nil {
		t.Fatal(err)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := parsed.User.Password(); ok && strings.Contains(logs.String(), pw) {
		t.Errorf("logs reveal the password: %s", logs.String())
	}
}
