package mgmtapi

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/auth"
)

// TestPermissionMatrix calls every management action as every role with
// every kind of authentication (session, user credential, global
// credential), over real HTTP, and checks allowed (2xx) vs 403.
func TestPermissionMatrix(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.user("keeper", access.RoleOwner) // a second OWNER, so no "last OWNER" refusals
	var n atomic.Int64
	fresh := func(prefix string) string { return fmt.Sprintf("%s%d", prefix, n.Add(1)) }

	var callers []caller
	for _, role := range []access.Role{access.RoleViewer, access.RoleEditor, access.RoleOwner} {
		u := e.user("u-"+role.String(), role)
		callers = append(callers,
			e.sessionCaller(&u),
			e.credCaller(&u, auth.CredentialSpec{}),
			e.credCaller(nil, auth.CredentialSpec{Role: role}),
		)
	}

	type request struct {
		method, path string
		body         any
	}
	// The expected table, written out from reference/user-roles.md rather
	// than derived from access.Can. ownOnly: a global credential has no
	// user and so no "own" credentials.
	actions := []struct {
		name    string
		min     access.Role
		ownOnly bool
		ok      int
		req     func(c caller) request
	}{
		{"me", access.RoleViewer, false, 200, func(caller) request { return request{"GET", "/api-server/v1/me", nil} }},
		{"list own credentials", access.RoleEditor, true, 200, func(caller) request {
			return request{"GET", "/api-server/v1/credentials", nil}
		}},
		{"create own credential", access.RoleEditor, true, 201, func(caller) request {
			return request{"POST", "/api-server/v1/credentials", map[string]any{"name": "mine", "expiresIn": "720h"}}
		}},
		{"revoke own credential", access.RoleEditor, true, 200, func(c caller) request {
			spec := auth.CredentialSpec{Name: "to-revoke"}
			if c.user != nil {
				spec.UserID = &c.user.ID
			} else {
				spec.Role = access.RoleViewer
			}
			cr, tok, err := e.a.CreateCredential(ctx, auth.SystemActor, spec)
			if err != nil {
				t.Fatal(err)
			}
			e.secret(tok)
			return request{"DELETE", fmt.Sprintf("/api-server/v1/credentials/%d", cr.ID), nil}
		}},
		{"list global credentials", access.RoleOwner, false, 200, func(caller) request {
			return request{"GET", "/api-server/v1/global-credentials", nil}
		}},
		{"create global credential", access.RoleOwner, false, 201, func(caller) request {
			return request{"POST", "/api-server/v1/global-credentials", map[string]any{"name": "g", "role": "VIEWER"}}
		}},
		{"revoke global credential", access.RoleOwner, false, 200, func(caller) request {
			cr, tok, err := e.a.CreateCredential(ctx, auth.SystemActor, auth.CredentialSpec{Name: "g", Role: access.RoleViewer})
			if err != nil {
				t.Fatal(err)
			}
			e.secret(tok)
			return request{"DELETE", fmt.Sprintf("/api-server/v1/global-credentials/%d", cr.ID), nil}
		}},
		{"list users", access.RoleEditor, false, 200, func(caller) request { return request{"GET", "/api-server/v1/users", nil} }},
		{"create user", access.RoleOwner, false, 201, func(caller) request {
			login := fresh("new")
			e.secret("pw-" + login + "-secret")
			return request{"POST", "/api-server/v1/users", map[string]any{"login": login, "password": "pw-" + login + "-secret"}}
		}},
		{"change role", access.RoleOwner, false, 200, func(caller) request {
			u := e.user(fresh("target"), access.RoleViewer)
			return request{"PATCH", fmt.Sprintf("/api-server/v1/users/%d", u.ID), map[string]any{"role": "EDITOR"}}
		}},
		{"disable user", access.RoleOwner, false, 200, func(caller) request {
			u := e.user(fresh("target"), access.RoleViewer)
			return request{"PATCH", fmt.Sprintf("/api-server/v1/users/%d", u.ID), map[string]any{"disabled": true}}
		}},
		{"delete user", access.RoleOwner, false, 200, func(caller) request {
			u := e.user(fresh("target"), access.RoleViewer)
			return request{"DELETE", fmt.Sprintf("/api-server/v1/users/%d", u.ID), nil}
		}},
		{"view endpoints", access.RoleEditor, false, 200, func(caller) request {
			return request{"GET", "/api-server/v1/endpoints", nil}
		}},
	}
	for _, act := range actions {
		for _, c := range callers {
			t.Run(act.name+"/"+c.name, func(t *testing.T) {
				want := act.ok
				if !c.role.AtLeast(act.min) || (act.ownOnly && c.kind == access.KindGlobalCredential) {
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
			})
		}
	}
}
