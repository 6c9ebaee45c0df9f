package app_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/secrets"
)

// TestOpenAdmin: the admin CLI's one way in opens the store and, for data
// sources, the secret key as serve does: it refuses a data dir that does
// not exist, creates a key only for the data source commands, and refuses
// to replace a lost key while the store holds secrets sealed with it.
func TestOpenAdmin(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	ctx := context.Background()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, secrets.DefaultFileName)

	if _, err := app.OpenAdmin(ctx, app.AdminConfig{DataDir: filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing data dir: %v", err)
	}

	a, err := app.OpenAdmin(ctx, app.AdminConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("user and credential commands made a key file: %v", err)
	}

	a, err = app.OpenAdmin(ctx, app.AdminConfig{DataDir: dir, DataSources: true})
	if err != nil {
		t.Fatal(err)
	}
	if !a.KeyCreated || a.KeyFile != keyFile {
		t.Fatalf("key %s created %v, want %s created", a.KeyFile, a.KeyCreated, keyFile)
	}
	s := datasource.Settings{Name: "mimir", URL: "http://127.0.0.1:1/prometheus", Env: "prod"}
	s.SetBearerToken("sealed-token")
	if _, err := a.Manage.CreateDataSource(ctx, audit.Actor{Name: "test"}, s); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	_, err = app.OpenAdmin(ctx, app.AdminConfig{DataDir: dir, DataSources: true})
	if err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("lost key: %v", err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a new key replaced the lost one: %v", err)
	}
}
