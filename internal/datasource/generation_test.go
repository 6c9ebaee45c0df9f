package datasource_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store/sqlstore"
)

// TestSourcesFollowGeneration: a data source created, changed or deleted
// by another process (a second handle on the same SQLite file, as the
// admin CLI is) reaches this server's data sources through the one
// mechanism credentials use, the Authenticator's store.Generation poll.
func TestSourcesFollowGeneration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "promgate.db")
	open := func() *sqlstore.Store {
		st, err := sqlstore.OpenSQLite(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	here, other := open(), open()
	a := auth.New(auth.Options{Store: here, GenerationPoll: 20 * time.Millisecond})
	t.Cleanup(func() { _ = a.Close() })
	box, err := secrets.New(make32(t))
	if err != nil {
		t.Fatal(err)
	}
	codec := datasource.NewCodec(box)
	sources := datasource.NewSources(datasource.SourcesOptions{Store: here, Codec: codec, Generation: a.Generation})
	// Wait until the first poll was seen, then take a snapshot.
	waitFor(t, "first generation poll", func() bool { return a.Generation() > 0 })
	if infos, err := sources.List(ctx); err != nil || len(infos) != 0 {
		t.Fatalf("before: %v %v", infos, err)
	}

	row, err := codec.ToRow(datasource.Settings{UID: "elsewhere", Name: "elsewhere", URL: "http://127.0.0.1:1", Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	created, err := other.CreateDataSource(ctx, row)
	if err != nil {
		t.Fatal(err)
	}
	urls := func() []string {
		infos, err := sources.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, in := range infos {
			out = append(out, in.URL)
		}
		return out
	}
	waitFor(t, "creation", func() bool { return slices.Equal(urls(), []string{"http://127.0.0.1:1"}) })

	created.URL = "http://127.0.0.1:2"
	if err := other.UpdateDataSource(ctx, created); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "update", func() bool { return slices.Equal(urls(), []string{"http://127.0.0.1:2"}) })

	if err := other.DeleteDataSource(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deletion", func() bool { return len(urls()) == 0 })
	if _, err := sources.Get(ctx, created.ID); err == nil {
		t.Fatal("a deleted data source is still found")
	}
}

func make32(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not seen within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
