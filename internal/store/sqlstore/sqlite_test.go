package sqlstore_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
	"github.com/promgate/promgate/internal/store/storetest"
)

func openSQLite(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(context.Background(), path, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
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

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "promgate.db"))
	})
}

// TestSQLiteShared opens the same file twice: two handles with their own
// connections and locks, as the server and the admin CLI have.
func TestSQLiteShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "promgate.db")
		return openSQLite(t, path), openSQLite(t, path)
	})
}
