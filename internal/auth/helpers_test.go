package auth

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
	"github.com/promgate/promgate/internal/testkit"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts credential lookups, to prove the cache and the
// failure limiter keep requests off the store.
type countingStore struct {
	store.Store
	lookups atomic.Int64
}

func (c *countingStore) GetCredentialByKey(ctx context.Context, key string) (store.Credential, error) {
	c.lookups.Add(1)
	return c.Store.GetCredentialByKey(ctx, key)
}

func openStore(t testing.TB, path string) store.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "promgate.db")
	}
	st, err := sqlstore.OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

type fixture struct {
	st    *countingStore
	a     *Authenticator
	srv   *httptest.Server
	logs  *testkit.LogBuffer
	clock *fakeClock
}

// newFixture serves a.Require(allowSession) in front of a handler that
// echoes the principal, over real HTTP on 127.0.0.1.
func newFixture(t testing.TB, o Options, allowSession bool) *fixture {
	t.Helper()
	f := &fixture{logs: &testkit.LogBuffer{}, clock: &fakeClock{t: time.Now()}}
	if o.Store == nil {
		o.Store = openStore(t, "")
	}
	f.st = &countingStore{Store: o.Store}
	o.Store = f.st
	o.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.Now == nil {
		o.Now = f.clock.Now
	}
	f.a = New(o)
	t.Cleanup(func() { _ = f.a.Close() })
	f.srv = httptest.NewServer(f.a.Require(allowSession)(http.HandlerFunc(echoPrincipal)))
	t.Cleanup(f.srv.Close)
	return f
}

type principalJSON struct {
	Kind, Role, Login, Key, Scope, Selector string
	DataSourceIDs                           []int64
}

func echoPrincipal(w http.ResponseWriter, r *http.Request) {
	p := access.PrincipalFrom(r.Context())
	_ = json.NewEncoder(w).Encode(principalJSON{
		Kind: p.Kind.String(), Role: p.Role.String(), Login: p.Login, Key: p.CredentialKey,
		Scope: p.Scope.String(), Selector: p.Selector, DataSourceIDs: p.DataSourceIDs,
	})
}

// The management operations live in internal/manage, which imports this
// package; these tests write the same rows to the store directly and, as
// manage.Manager does through its AccessChanged hook, invalidate the cache.

func (f *fixture) user(t testing.TB, login string, role access.Role) store.User {
	t.Helper()
	return createUser(t, f.st, login, "password-"+login, role)
}

func createUser(t testing.TB, st store.Store, login, password string, role access.Role) store.User {
	t.Helper()
	hash, err := HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(context.Background(), store.User{Login: login, PasswordHash: hash, Role: role.String(), CreatedAt: time.Now()})
	if err != nil {
		t.Fatalf("create user %s: %v", login, err)
	}
	return u
}

// credSpec describes a test credential: a user's (UserID) or a global one
// (Role).
type credSpec struct {
	Name          string
	UserID        *int64
	Role          access.Role
	ExpiresAt     *time.Time
	Scope         access.Scope
	DataSourceIDs []int64
	Selector      string
}

func (f *fixture) cred(t testing.TB, spec credSpec) (store.Credential, string) {
	t.Helper()
	return createCred(t, f.st, spec)
}

func createCred(t testing.TB, st store.Store, spec credSpec) (store.Credential, string) {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "test"
	}
	if spec.Scope == 0 {
		spec.Scope = access.ScopeRead
	}
	// Stored sorted, as manage.Manager stores them.
	spec.DataSourceIDs = slices.Sorted(slices.Values(spec.DataSourceIDs))
	key, token, err := GenerateCredential()
	if err != nil {
		t.Fatal(err)
	}
	c := store.Credential{Key: key, TokenHash: HashToken(token), Name: spec.Name, UserID: spec.UserID, CreatedAt: time.Now(),
		ExpiresAt: spec.ExpiresAt, Scope: spec.Scope.String(), DataSourceIDs: spec.DataSourceIDs, Selector: spec.Selector}
	if spec.UserID == nil {
		c.Role = spec.Role.String()
	}
	c, err = st.CreateCredential(context.Background(), c)
	if err != nil {
		t.Fatalf("create credential: %v", err)
	}
	return c, token
}

// change makes a store change as a management operation would: on the
// store, then invalidating a's cache.
func change(a *Authenticator, err error) error {
	a.Invalidate()
	return err
}

// get sends GET / with the given header values and returns status and body.
func (f *fixture) get(t testing.TB, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func basic(key, token string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth(key, token)
	return http.Header{"Authorization": {r.Header.Get("Authorization")}}
}

func bearer(key, token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + key + ":" + token}}
}

// assertNoSecrets fails if any secret shows up in the logs.
func assertNoSecrets(t testing.TB, logs string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret (%.8s...) appears in the logs", s)
		}
	}
}

func newTextLogger(w *testkit.LogBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func mustHash(password string) string {
	h, err := HashPassword(password)
	if err != nil {
		panic(err)
	}
	return h
}
