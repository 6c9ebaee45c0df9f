package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/postgres"
	"github.com/promgate/promgate/internal/store/storetest"
)

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
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAt(t, storetest.PostgresURL(t))
	})
}

// TestShared opens the same schema twice: two pools, as two replicas have.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		u := storetest.PostgresURL(t)
		return openAt(t, u), openAt(t, u)
	})
}
