package datasource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/testkit"
)

// loginSession logs a user in over HTTP and returns a promtest.Caller with the
// session cookie and CSRF token.
func loginSession(t *testing.T, s *promtest.Server, login, password string) promtest.Caller {
	t.Helper()
	status, out, resp := postLogin(t, s, login, password)
	if status != 200 {
		t.Fatalf("login %s: %d %s", login, status, out)
	}
	var l struct {
		Data struct {
			CSRFToken string `json:"csrfToken"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == auth.DefaultCookieName {
			return promtest.Caller{Cookie: c, CSRF: l.Data.CSRFToken}
		}
	}
	t.Fatalf("login %s: no session cookie", login)
	return promtest.Caller{}
}

func postLogin(t *testing.T, s *promtest.Server, login, password string) (int, []byte, *http.Response) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login": login, "password": password})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api-server/v1/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := testkit.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out, resp
}

// TestAPIPermissionMatrix calls every data source action as every role
// with every kind of authentication (session; user and global credentials
// with scope read, write and read,write) over real HTTP. A credential reads
// with the read scope and changes a data source only with read and write;
// testing a connection counts as a change (it makes the server connect to
// an address the promtest.Caller names, with a stored secret), and a refused one
// never reaches the backend.
func TestAPIPermissionMatrix(t *testing.T) {
	front := promtest.Start(t)
	ctx := context.Background()
	rec := promtest.NewRecorder(t, nil)

	type who struct {
		name  string
		role  access.Role
		kind  access.PrincipalKind
		scope access.Scope
		c     promtest.Caller
	}
	var callers []who
	scopes := []access.Scope{access.ScopeRead, access.ScopeWrite, access.ScopeRead | access.ScopeWrite}
	for _, role := range []access.Role{access.RoleViewer, access.RoleEditor, access.RoleOwner} {
		login := "m-" + strings.ToLower(role.String())
		pw := "pw-" + login + "-secret"
		u, err := front.App.Manage.CreateUser(ctx, audit.System, login, pw, role)
		if err != nil {
			t.Fatal(err)
		}
		callers = append(callers, who{role.String() + "/session", role, access.KindSession, 0, loginSession(t, front, login, pw)})
		for _, sc := range scopes {
			cr, tok, err := front.App.Manage.CreateCredential(ctx, audit.System, manage.CredentialSpec{Name: "m", UserID: &u.ID, Scope: sc})
			if err != nil {
				t.Fatal(err)
			}
			callers = append(callers, who{fmt.Sprintf("%s/user_credential/%s", role, sc), role, access.KindUserCredential, sc, promtest.Caller{Key: cr.Key, Token: tok}})
			k, tk := front.Credential(t, role, sc, "")
			callers = append(callers, who{fmt.Sprintf("%s/global_credential/%s", role, sc), role, access.KindGlobalCredential, sc, promtest.Caller{Key: k, Token: tk}})
		}
	}

	var n atomic.Int64
	newDS := func() mgmtapi.View {
		return promtest.AddDataSource(t, front, map[string]any{"name": fmt.Sprintf("ds%d", n.Add(1)), "url": rec.URL, "env": "prod"})
	}
	settings := func() map[string]any {
		return map[string]any{"name": fmt.Sprintf("new%d", n.Add(1)), "url": rec.URL, "env": "prod"}
	}
	type request struct {
		method, url string
		body        any
	}
	actions := []struct {
		name    string
		min     access.Role
		changes bool
		ok      int
		backend bool // the allowed request reaches the backend
		req     func() request
	}{
		{"list", access.RoleViewer, false, 200, false, func() request { return request{"GET", front.URL + dsAPI, nil} }},
		{"get", access.RoleViewer, false, 200, false, func() request {
			return request{"GET", fmt.Sprintf("%s%s/%d", front.URL, dsAPI, newDS().ID), nil}
		}},
		{"create", access.RoleOwner, true, 201, false, func() request { return request{"POST", front.URL + dsAPI, settings()} }},
		{"update", access.RoleOwner, true, 200, false, func() request {
			return request{"PUT", fmt.Sprintf("%s%s/%d", front.URL, dsAPI, newDS().ID), settings()}
		}},
		{"delete", access.RoleOwner, true, 200, false, func() request {
			return request{"DELETE", fmt.Sprintf("%s%s/%d", front.URL, dsAPI, newDS().ID), nil}
		}},
		{"test saved", access.RoleOwner, true, 200, true, func() request {
			return request{"POST", fmt.Sprintf("%s%s/%d/test", front.URL, dsAPI, newDS().ID), nil}
		}},
		{"test unsaved", access.RoleOwner, true, 200, true, func() request { return request{"POST", front.URL + dsAPI + "/test", settings()} }},
		{"test unsaved with a stored secret", access.RoleOwner, true, 200, true, func() request {
			in := settings()
			in["id"] = newDS().ID
			return request{"POST", front.URL + dsAPI + "/test", in}
		}},
	}
	for _, act := range actions {
		for _, w := range callers {
			t.Run(act.name+"/"+w.name, func(t *testing.T) {
				need := access.ScopeRead
				if act.changes {
					need = access.ScopeRead | access.ScopeWrite
				}
				allowed := w.role.AtLeast(act.min) && (w.kind == access.KindSession || w.scope.Has(need))
				want := act.ok
				if !allowed {
					want = http.StatusForbidden
				}
				r := act.req()
				rec.Reset()
				status, out := w.c.Do(t, r.method, r.url, r.body)
				if status != want {
					t.Fatalf("%s %s: %d %s, want %d", r.method, r.url, status, out, want)
				}
				if want == http.StatusForbidden && promtest.DecodeError(t, out).ErrorType != "forbidden" {
					t.Fatalf("403 with wrong error type: %s", out)
				}
				if reached := len(rec.Seen()) > 0; reached != (allowed && act.backend) {
					t.Fatalf("backend reached: %v, want %v", reached, allowed && act.backend)
				}
			})
		}
	}

	// Settings (URL, headers) are shown only to those who may see them: an
	// OWNER, whose credential has the read scope.
	for _, w := range callers {
		t.Run("settings shown/"+w.name, func(t *testing.T) {
			ds := newDS()
			status, out := w.c.Do(t, "GET", fmt.Sprintf("%s%s/%d", front.URL, dsAPI, ds.ID), nil)
			mayRead := w.kind == access.KindSession || w.scope.Has(access.ScopeRead)
			if !mayRead {
				if status != http.StatusForbidden {
					t.Fatalf("%d %s, want 403", status, out)
				}
				return
			}
			var v mgmtapi.View
			promtest.DecodeData(t, out, &v)
			if shown, want := v.URL != "", w.role == access.RoleOwner; shown != want {
				t.Fatalf("url shown: %v, want %v: %s", shown, want, out)
			}
		})
	}
}
