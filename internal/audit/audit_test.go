package audit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
)

// failingStore refuses every audit row, as a store that went away would.
type failingStore struct{ store.Store }

func (failingStore) AppendAudit(context.Context, store.AuditEvent) error {
	return errors.New("store is gone")
}

func TestWrite(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "promgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	tests := []struct {
		name    string
		st      store.Store
		actor   audit.Actor
		wantRow bool
	}{
		{"written", st, audit.ActorOf(&access.Principal{Kind: access.KindSession, Login: "ann"}, "192.0.2.1"), true},
		{"store fails: logged, not lost silently", failingStore{st}, audit.System, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			audit.New(tt.st, logger, func() time.Time { return at }).Write(ctx, tt.actor, "user.role", "user:bob", "VIEWER->EDITOR")
			events, err := st.ListAudit(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantRow {
				if len(events) == 0 {
					t.Fatal("no audit row")
				}
				e := events[0]
				if e.Actor != "ann" || e.RemoteAddr != "192.0.2.1" || e.Action != "user.role" || e.Target != "user:bob" || !e.At.Equal(at) {
					t.Fatalf("row %+v", e)
				}
				return
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "user.role") {
				t.Fatalf("a lost audit row was not logged as an error: %q", logs.String())
			}
		})
	}
}
