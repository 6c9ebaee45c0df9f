package sqlstore_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
	"github.com/promgate/promgate/internal/store/storetest"
)

func openPostgres(t testing.TB, u string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenPostgres(context.Background(), u, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
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

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPostgres(t, storetest.PostgresURL(t))
	})
}

// TestPostgresShared opens the same schema twice: two pools, as two replicas have.
func TestPostgresShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		u := storetest.PostgresURL(t)
		return openPostgres(t, u), openPostgres(t, u)
	})
}
