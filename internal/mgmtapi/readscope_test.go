package mgmtapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/testkit"
)

type reply struct {
	status int
	body   []byte
}

func send(t *testing.T, method, url string, body any, with func(*http.Request)) reply {
	t.Helper()
	req := testkit.JSONRequest(t, method, url, body)
	if with != nil {
		with(req)
	}
	resp, out := testkit.Do(t, req)
	return reply{resp.StatusCode, out}
}

// state is everything a management request could change.
type state struct {
	Users       []store.User
	Credentials []store.Credential
	DataSources []store.DataSource
	Audit       []store.AuditEvent
	Generation  int64
}

func snapshot(t *testing.T, st store.Store) state {
	t.Helper()
	ctx := context.Background()
	var s state
	var err error
	if s.Users, err = st.ListUsers(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Credentials, err = st.ListCredentials(ctx, store.CredentialFilter{IncludeRevoked: true}); err != nil {
		t.Fatal(err)
	}
	for i := range s.Credentials {
		s.Credentials[i].LastUsedAt = nil // using a credential is not changing it
	}
	if s.DataSources, err = st.ListDataSources(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Audit, err = st.ListAudit(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if s.Generation, err = st.Generation(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReadScopeChangesNothing: an OWNER credential without the write scope
// (global, or a user credential of an OWNER) changes nothing through any
// API of the whole server: users, sessions, own and global credentials,
// data sources (including the connection test, which would make the
// server connect somewhere with a stored secret), remote_write. It still
// reads everything its role may see.
func TestReadScopeChangesNothing(t *testing.T) {
	front := promtest.Start(t)
	ctx := context.Background()
	var backendHits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}`)
	})}}
	backend.Start()
	t.Cleanup(backend.Close)

	ownerCred := func(r *http.Request) { r.SetBasicAuth(front.Key, front.Token) }
	created := send(t, "POST", front.URL+"/api-server/v1/datasources", map[string]any{
		"name": "remote", "url": backend.URL, "env": "prod", "bearerToken": "backend-secret-token",
	}, ownerCred)
	if created.status != 201 {
		t.Fatalf("create data source: %d %s", created.status, created.body)
	}
	var ds struct{ Data struct{ ID int64 } }
	if err := json.Unmarshal(created.body, &ds); err != nil || ds.Data.ID == 0 {
		t.Fatalf("data source id: %v %s", err, created.body)
	}

	victim, err := front.App.Manage.CreateUser(ctx, audit.System, "victim", "victim-password", access.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	victimCookie := ""
	{
		req, _ := http.NewRequest("POST", front.URL+"/api-server/v1/login", strings.NewReader(`{"login":"victim","password":"victim-password"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := testkit.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == auth.DefaultCookieName {
				victimCookie = c.Value
			}
		}
		if resp.StatusCode != 200 || victimCookie == "" {
			t.Fatalf("login: %d, cookie %v", resp.StatusCode, victimCookie != "")
		}
	}
	victimSession := func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: auth.DefaultCookieName, Value: victimCookie})
	}

	admin, err := front.App.Store.GetUserByLogin(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]struct {
		key, token string
		id         int64
	}{}
	{
		c, tok, err := front.App.Manage.CreateCredential(ctx, audit.System, manage.CredentialSpec{Name: "ro-global", Role: access.RoleOwner, Scope: access.ScopeRead})
		if err != nil {
			t.Fatal(err)
		}
		readers["global OWNER read"] = struct {
			key, token string
			id         int64
		}{c.Key, tok, c.ID}
		c, tok, err = front.App.Manage.CreateCredential(ctx, audit.System, manage.CredentialSpec{Name: "ro-user", UserID: &admin.ID, Scope: access.ScopeRead})
		if err != nil {
			t.Fatal(err)
		}
		readers["OWNER's user credential read"] = struct {
			key, token string
			id         int64
		}{c.Key, tok, c.ID}
	}
	ownerCredRow, err := front.App.Store.GetCredentialByKey(ctx, front.Key)
	if err != nil {
		t.Fatal(err)
	}

	u := func(format string, args ...any) string { return front.URL + fmt.Sprintf(format, args...) }
	for name, rd := range readers {
		t.Run(name, func(t *testing.T) {
			as := func(r *http.Request) { r.SetBasicAuth(rd.key, rd.token) }
			changes := []struct {
				name, method, url string
				body              any
				extra             func(*http.Request)
				want              int
			}{
				{"create OWNER user", "POST", u("/api-server/v1/users"), map[string]any{"login": "mallory", "password": "mallory-password", "role": "OWNER"}, nil, 403},
				{"promote user", "PATCH", u("/api-server/v1/users/%d", victim.ID), map[string]any{"role": "OWNER"}, nil, 403},
				{"set password", "PATCH", u("/api-server/v1/users/%d", admin.ID), map[string]any{"password": "taken-over-password"}, nil, 403},
				{"disable user", "PATCH", u("/api-server/v1/users/%d", victim.ID), map[string]any{"disabled": true}, nil, 403},
				{"delete user", "DELETE", u("/api-server/v1/users/%d", victim.ID), nil, nil, 403},
				{"mint own credential", "POST", u("/api-server/v1/credentials"), map[string]any{"name": "more", "scope": "read"}, nil, 403},
				{"revoke own credential", "DELETE", u("/api-server/v1/credentials/%d", rd.id), nil, nil, 403},
				{"mint global credential", "POST", u("/api-server/v1/global-credentials"), map[string]any{"name": "g", "role": "OWNER", "scope": "read"}, nil, 403},
				{"revoke global credential", "DELETE", u("/api-server/v1/global-credentials/%d", ownerCredRow.ID), nil, nil, 403},
				{"add data source", "POST", u("/api-server/v1/datasources"), map[string]any{"name": "evil", "url": backend.URL, "env": "prod"}, nil, 403},
				{"change data source", "PUT", u("/api-server/v1/datasources/%d", ds.Data.ID), map[string]any{"name": "remote", "url": backend.URL + "/evil", "env": "prod"}, nil, 403},
				{"delete data source", "DELETE", u("/api-server/v1/datasources/%d", ds.Data.ID), nil, nil, 403},
				{"test saved data source", "POST", u("/api-server/v1/datasources/%d/test", ds.Data.ID), nil, nil, 403},
				{"test new URL with stored secret", "POST", u("/api-server/v1/datasources/test"), map[string]any{"id": ds.Data.ID, "name": "x", "url": backend.URL + "/steal", "env": "prod"}, nil, 403},
				{"log out someone's session", "POST", u("/api-server/v1/logout"), nil, victimSession, 400},
				{"remote_write", "POST", u("/api/v1/write"), nil, func(r *http.Request) { r.Header.Set("Content-Type", "application/x-protobuf") }, 403},
			}
			for _, c := range changes {
				t.Run(c.name, func(t *testing.T) {
					before := snapshot(t, front.App.Store)
					got := send(t, c.method, c.url, c.body, func(r *http.Request) {
						as(r)
						if c.extra != nil {
							c.extra(r)
						}
					})
					if got.status != c.want {
						t.Errorf("%s %s: %d %s, want %d", c.method, c.url, got.status, got.body, c.want)
					}
					if after := snapshot(t, front.App.Store); !reflect.DeepEqual(before, after) {
						t.Errorf("state changed:\nbefore %+v\nafter  %+v", before, after)
					}
					if n := backendHits.Swap(0); n != 0 {
						t.Errorf("the backend got %d requests", n)
					}
					if me := send(t, "GET", u("/api-server/v1/me"), nil, victimSession); me.status != 200 {
						t.Errorf("victim's session ended: %d %s", me.status, me.body)
					}
				})
			}

			reads := []struct{ name, method, url, want string }{
				{"list users", "GET", u("/api-server/v1/users"), `"login":"victim"`},
				{"list global credentials", "GET", u("/api-server/v1/global-credentials"), `"kind":"global"`},
				{"audit", "GET", u("/api-server/v1/audit"), `"action":"login.success"`},
				{"data source settings", "GET", u("/api-server/v1/datasources/%d", ds.Data.ID), `"url":"` + backend.URL + `"`},
				{"query (POST is a read)", "POST", u("%s1/api/v1/query?query=vector(1)", server.ProxyPrefix), `"status":"success"`},
				{"remote data source", "GET", u("%s%d/api/v1/query?query=up", server.ProxyPrefix, ds.Data.ID), `"status":"success"`},
			}
			if name == "OWNER's user credential read" {
				reads = append(reads, struct{ name, method, url, want string }{"list own credentials", "GET", u("/api-server/v1/credentials"), `"name":"ro-user"`})
			}
			for _, c := range reads {
				t.Run(c.name, func(t *testing.T) {
					got := send(t, c.method, c.url, nil, as)
					if got.status != 200 || !strings.Contains(string(got.body), c.want) {
						t.Fatalf("%s %s: %d %s, want 200 with %s", c.method, c.url, got.status, got.body, c.want)
					}
				})
			}
			backendHits.Store(0)
		})
	}
}
