package mgmtapi

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/manage"
)

// TestPermissionMatrix calls every management action as every role with
// every kind of authentication (session; user and global credentials with
// scope read, write and read,write), over real HTTP, and checks allowed
// (2xx) vs 403.
func TestPermissionMatrix(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.user("keeper", access.RoleOwner) // a second OWNER, so no "last OWNER" refusals
	var n atomic.Int64
	fresh := func(prefix string) string { return fmt.Sprintf("%s%d", prefix, n.Add(1)) }

	scopes := []access.Scope{access.ScopeRead, access.ScopeWrite, access.ScopeRead | access.ScopeWrite}
	var callers []caller
	for _, role := range []access.Role{access.RoleViewer, access.RoleEditor, access.RoleOwner} {
		u := e.user("u-"+role.String(), role)
		callers = append(callers, e.sessionCaller(&u))
		for _, sc := range scopes {
			callers = append(callers,
				e.credCaller(&u, manage.CredentialSpec{Scope: sc}),
				e.credCaller(nil, manage.CredentialSpec{Role: role, Scope: sc}),
			)
		}
	}

	type request struct {
		method, path string
		body         any
	}
	// The expected table, written out from reference/user-roles.md and the
	// scope rule rather than derived from access.Can:
	//   - a credential reads (GET) with the read scope;
	//   - a credential changes anything only with read and write: write
	//     because it is a change, read because every change here can hand
	//     out read access (a user's session, a credential, a data source's
	//     stored secret);
	//   - sessions are not limited by scope.
	// ownOnly: a global credential has no user and so no "own" credentials.
	actions := []struct {
		name    string
		min     access.Role
		ownOnly bool
		changes bool
		ok      int
		req     func(c caller) request
	}{
		{"list own credentials", access.RoleEditor, true, false, 200, func(caller) request {
			return request{"GET", "/api-server/v1/credentials", nil}
		}},
		{"create own credential", access.RoleEditor, true, true, 201, func(c caller) request {
			// Within the caller's own scope, so that only the permission
			// table can refuse it (the subset rule is tested elsewhere).
			scope := "read"
			if c.scope == access.ScopeWrite {
				scope = "write"
			}
			return request{"POST", "/api-server/v1/credentials", map[string]any{"name": "mine", "expiresIn": "720h", "scope": scope}}
		}},
		{"revoke own credential", access.RoleEditor, true, true, 200, func(c caller) request {
			spec := manage.CredentialSpec{Name: "to-revoke"}
			if c.user != nil {
				spec.UserID = &c.user.ID
			} else {
				spec.Role = access.RoleViewer
			}
			cr, tok, err := e.m.CreateCredential(ctx, audit.System, spec)
			if err != nil {
				t.Fatal(err)
			}
			e.secret(tok)
			return request{"DELETE", fmt.Sprintf("/api-server/v1/credentials/%d", cr.ID), nil}
		}},
		{"list global credentials", access.RoleOwner, false, false, 200, func(caller) request {
			return request{"GET", "/api-server/v1/global-credentials", nil}
		}},
		{"create global credential", access.RoleOwner, false, true, 201, func(c caller) request {
			scope := "read"
			if c.scope == access.ScopeWrite {
				scope = "write"
			}
			return request{"POST", "/api-server/v1/global-credentials", map[string]any{"name": "g", "role": "VIEWER", "scope": scope}}
		}},
		{"revoke global credential", access.RoleOwner, false, true, 200, func(caller) request {
			cr, tok, err := e.m.CreateCredential(ctx, audit.System, manage.CredentialSpec{Name: "g", Role: access.RoleViewer})
			if err != nil {
				t.Fatal(err)
			}
			e.secret(tok)
			return request{"DELETE", fmt.Sprintf("/api-server/v1/global-credentials/%d", cr.ID), nil}
		}},
		{"list users", access.RoleEditor, false, false, 200, func(caller) request { return request{"GET", "/api-server/v1/users", nil} }},
		{"create user", access.RoleOwner, false, true, 201, func(caller) request {
			login := fresh("new")
			e.secret("pw-" + login + "-secret")
			return request{"POST", "/api-server/v1/users", map[string]any{"login": login, "password": "pw-" + login + "-secret", "role": "OWNER"}}
		}},
		{"change role", access.RoleOwner, false, true, 200, func(caller) request {
			u := e.user(fresh("target"), access.RoleViewer)
			return request{"PATCH", fmt.Sprintf("/api-server/v1/users/%d", u.ID), map[string]any{"role": "OWNER"}}
		}},
		{"disable user (ends sessions)", access.RoleOwner, false, true, 200, func(caller) request {
			u := e.user(fresh("target"), access.RoleViewer)
			return request{"PATCH", fmt.Sprintf("/api-server/v1/users/%d", u.ID), map[string]any{"disabled": true}}
		}},
		{"enable user", access.RoleOwner, false, true, 200, func(caller) request {
			u := e.user(fresh("target"), access.RoleViewer)
			if err := e.m.SetUserDisabled(ctx, audit.System, u.ID, true); err != nil {
				t.Fatal(err)
			}
			return request{"PATCH", fmt.Sprintf("/api-server/v1/users/%d", u.ID), map[string]any{"disabled": false}}
		}},
		{"set password (ends sessions)", access.RoleOwner, false, true, 200, func(caller) request {
			u := e.user(fresh("target"), access.RoleViewer)
			e.secret("a-new-password-for-" + u.Login)
			return request{"PATCH", fmt.Sprintf("/api-server/v1/users/%d", u.ID), map[string]any{"password": "a-new-password-for-" + u.Login}}
		}},
		{"delete user", access.RoleOwner, false, true, 200, func(caller) request {
			u := e.user(fresh("target"), access.RoleViewer)
			return request{"DELETE", fmt.Sprintf("/api-server/v1/users/%d", u.ID), nil}
		}},
		{"view endpoints", access.RoleEditor, false, false, 200, func(caller) request {
			return request{"GET", "/api-server/v1/endpoints", nil}
		}},
		{"view audit", access.RoleOwner, false, false, 200, func(caller) request {
			return request{"GET", "/api-server/v1/audit", nil}
		}},
	}
	for _, act := range actions {
		for _, c := range callers {
			t.Run(act.name+"/"+c.name, func(t *testing.T) {
				need := access.ScopeRead
				if act.changes {
					need = access.ScopeRead | access.ScopeWrite
				}
				allowed := c.role.AtLeast(act.min) &&
					!(act.ownOnly && c.kind == access.KindGlobalCredential) &&
					(c.kind == access.KindSession || c.scope.Has(need))
				want := act.ok
				if !allowed {
					want = http.StatusForbidden
				}
				r := act.req(c)
				status, _, body := e.do(c, r.method, r.path, r.body)
				if status != want {
					t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, status, want, body)
				}
				if want == http.StatusForbidden && errorType(t, body) != "forbidden" {
					t.Fatalf("403 with wrong error type: %s", body)
				}
				if status == http.StatusCreated {
					var cr credentialJSON
					data(t, body, &cr)
					if cr.Token != "" {
						e.secret(cr.Token)
					}
				}
			})
		}
	}

	// me answers every caller, and its permissions say the same as the table.
	for _, c := range callers {
		t.Run("me/"+c.name, func(t *testing.T) {
			status, _, body := e.do(c, "GET", "/api-server/v1/me", nil)
			if status != 200 {
				t.Fatalf("me: %d %s", status, body)
			}
			var me meResponse
			data(t, body, &me)
			mayChange := c.kind == access.KindSession || c.scope.Has(access.ScopeRead|access.ScopeWrite)
			for _, p := range me.Permissions {
				if !mayChange && (p == "manage_users" || p == "manage_global_credentials" || p == "manage_own_credentials" || p == "manage_data_sources") {
					t.Errorf("permissions of a %s credential include %s: %v", c.scope, p, me.Permissions)
				}
			}
		})
	}
}
