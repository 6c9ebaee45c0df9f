package mgmtapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
	"github.com/promgate/promgate/internal/testkit"
)

// env is the management API over real HTTP on 127.0.0.1 with a real
// SQLite store. Every password and token it hands out is remembered and,
// at cleanup, must not appear in any log line.
type env struct {
	t    *testing.T
	st   store.Store
	a    *auth.Authenticator
	m    *manage.Manager
	srv  *httptest.Server
	logs *testkit.LogBuffer

	mu      sync.Mutex
	secrets []string
}

type envOptions struct {
	auth        auth.Options
	externalURL string
	trustProto  bool
}

// embeddedInfo is data source 1; newEnv stores data source 2, "prom-b".
var embeddedInfo = datasource.Info{ID: 1, UID: "embedded", Name: "promgate", Type: "prometheus", URL: "embedded", Env: "local", Embedded: true}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "promgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, logs: &testkit.LogBuffer{}}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.auth.Store, o.auth.Logger = st, logger
	if o.auth.MaxFailures == 0 {
		o.auth.MaxFailures = 100000
	}
	e.a = auth.New(o.auth)
	box, _, err := secrets.LoadOrCreate(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	codec := datasource.NewCodec(box)
	remotes := datasource.NewSources(datasource.SourcesOptions{Store: st, Codec: codec, Logger: logger, Generation: e.a.Generation})
	sources := datasource.NewRegistry(datasource.NewInProcess(embeddedInfo, http.NotFoundHandler()), remotes)
	e.m = manage.New(manage.Options{Store: st, Logger: logger, AccessChanged: e.a.Invalidate, Codec: codec, DataSourcesChanged: remotes.Invalidate})
	ds, err := e.m.CreateDataSource(context.Background(), audit.System, datasource.Settings{
		UID: "prom-b", Name: "Prometheus B", URL: "http://127.0.0.1:1", Env: "prod", Site: "eu",
	})
	if err != nil || ds.ID != 2 {
		t.Fatalf("create data source 2: id %d, %v", ds.ID, err)
	}
	h := New(Options{
		Store: st, Auth: e.a, Manage: e.m, Sources: sources, Logger: logger, ExternalURL: o.externalURL, TrustForwardedProto: o.trustProto,
	})
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		e.srv.Close()
		_ = e.a.Close()
		_ = st.Close()
		logs := e.logs.String()
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, s := range e.secrets {
			if strings.Contains(logs, s) {
				t.Errorf("a secret (%.10s...) appears in the logs", s)
			}
		}
	})
	return e
}

func (e *env) secret(s string) {
	e.mu.Lock()
	e.secrets = append(e.secrets, s)
	e.mu.Unlock()
}

func (e *env) user(login string, role access.Role) store.User {
	e.t.Helper()
	pw := "pw-" + login + "-secret"
	e.secret(pw)
	u, err := e.m.CreateUser(context.Background(), audit.System, login, pw, role)
	if err != nil {
		e.t.Fatalf("create user %s: %v", login, err)
	}
	return u
}

// caller is one way of authenticating.
type caller struct {
	name  string
	role  access.Role
	kind  access.PrincipalKind
	scope access.Scope // credentials only
	user  *store.User  // nil for global credentials
	apply func(*http.Request)
}

func (e *env) credCaller(u *store.User, spec manage.CredentialSpec) caller {
	e.t.Helper()
	if spec.Name == "" {
		spec.Name = "test"
	}
	if u != nil {
		spec.UserID = &u.ID
	}
	c, tok, err := e.m.CreateCredential(context.Background(), audit.System, spec)
	if err != nil {
		e.t.Fatalf("create credential: %v", err)
	}
	e.secret(tok)
	cl := caller{apply: func(r *http.Request) { r.SetBasicAuth(c.Key, tok) }, user: u}
	if u != nil {
		cl.kind = access.KindUserCredential
		cl.role, _ = access.ParseRole(u.Role)
	} else {
		cl.kind, cl.role = access.KindGlobalCredential, spec.Role
	}
	cl.scope = spec.Scope
	if cl.scope == 0 {
		cl.scope = access.ScopeRead
	}
	cl.name = fmt.Sprintf("%s/%s/%s", cl.role, cl.kind, cl.scope)
	return cl
}

type loginResult struct {
	cookie *http.Cookie
	csrf   string
}

func (e *env) login(login string) loginResult {
	e.t.Helper()
	status, resp, body := e.do(caller{}, "POST", "/api-server/v1/login", map[string]string{"login": login, "password": "pw-" + login + "-secret"})
	if status != 200 {
		e.t.Fatalf("login %s: %d %s", login, status, body)
	}
	var out struct{ Data struct{ CSRFToken string } }
	_ = json.Unmarshal(body, &out)
	for _, c := range resp.Cookies() {
		if c.Name == auth.DefaultCookieName {
			e.secret(c.Value)
			e.secret(out.Data.CSRFToken)
			return loginResult{cookie: c, csrf: out.Data.CSRFToken}
		}
	}
	e.t.Fatalf("login %s: no session cookie", login)
	return loginResult{}
}

func (e *env) sessionCaller(u *store.User) caller {
	e.t.Helper()
	lr := e.login(u.Login)
	role, _ := access.ParseRole(u.Role)
	return caller{
		name: fmt.Sprintf("%s/session", role), role: role, kind: access.KindSession, user: u,
		apply: func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: lr.cookie.Name, Value: lr.cookie.Value})
			r.Header.Set(auth.CSRFHeader, lr.csrf)
		},
	}
}

// do sends a request with a JSON body (if body is not nil).
func (e *env) do(c caller, method, path string, body any) (int, *http.Response, []byte) {
	e.t.Helper()
	req := testkit.JSONRequest(e.t, method, e.srv.URL+path, body)
	if c.apply != nil {
		c.apply(req)
	}
	resp, b := testkit.Do(e.t, req)
	return resp.StatusCode, resp, b
}

// data decodes {"status":"success","data":...} into v.
func data(t *testing.T, body []byte, v any) {
	t.Helper()
	var env struct {
		Status string
		Data   json.RawMessage
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
		t.Fatalf("not a success envelope: %s", body)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("decode data: %v: %s", err, body)
	}
}

// errorType checks a Prometheus-style error body and returns its type.
func errorType(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Status, ErrorType, Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Status != "error" || e.ErrorType == "" || e.Error == "" {
		t.Fatalf("not a Prometheus-style error: %s", body)
	}
	return e.ErrorType
}
