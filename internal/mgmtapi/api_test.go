package mgmtapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/manage"
)

func TestLoginSessionAndCSRF(t *testing.T) {
	e := newEnv(t, envOptions{})
	u := e.user("alice", access.RoleEditor)

	t.Run("login rules", func(t *testing.T) {
		tests := []struct {
			name        string
			contentType string
			body        string
			want        int
		}{
			{"wrong password", "application/json", `{"login":"alice","password":"nope-nope"}`, 401},
			{"unknown user", "application/json", `{"login":"nobody","password":"whatever1"}`, 401},
			{"form post (login CSRF)", "application/x-www-form-urlencoded", `login=alice&password=pw-alice-secret`, 415},
			{"bad JSON", "application/json", `{"login":`, 400},
			{"unknown field", "application/json", `{"login":"alice","password":"pw-alice-secret","admin":true}`, 400},
			{"unicode login", "application/json", `{"login":"ålice😀","password":"pw-alice-secret"}`, 401},
			{"right", "application/json", `{"login":"alice","password":"pw-alice-secret"}`, 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest("POST", e.srv.URL+"/api-server/v1/login", strings.NewReader(tt.body))
				req.Header.Set("Content-Type", tt.contentType)
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
				}
				if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != "" {
					t.Error("form login answered with a basic-auth challenge (browser dialog)")
				}
				if tt.want == 200 {
					var c *http.Cookie
					for _, x := range resp.Cookies() {
						if x.Name == auth.DefaultCookieName {
							c = x
						}
					}
					if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
						t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, not Secure on plain HTTP", c)
					}
					e.secret(c.Value)
				}
			})
		}
	})

	sess := e.sessionCaller(&u)
	noCSRF := caller{apply: func(r *http.Request) {
		sess.apply(r)
		r.Header.Del(auth.CSRFHeader)
	}}
	wrongCSRF := caller{apply: func(r *http.Request) {
		sess.apply(r)
		r.Header.Set(auth.CSRFHeader, "wrong")
	}}
	cred := e.credCaller(&u, manage.CredentialSpec{Scope: access.ScopeRead | access.ScopeWrite})
	newCred := map[string]any{"name": "x"}

	tests := []struct {
		name   string
		c      caller
		method string
		path   string
		body   any
		want   int
	}{
		{"session GET needs no CSRF token", noCSRF, "GET", "/api-server/v1/me", nil, 200},
		{"session POST without CSRF token", noCSRF, "POST", "/api-server/v1/credentials", newCred, 403},
		{"session POST with wrong CSRF token", wrongCSRF, "POST", "/api-server/v1/credentials", newCred, 403},
		{"session POST with CSRF token", sess, "POST", "/api-server/v1/credentials", newCred, 201},
		{"session DELETE without CSRF token", noCSRF, "DELETE", "/api-server/v1/credentials/1", nil, 403},
		{"session logout without CSRF token", noCSRF, "POST", "/api-server/v1/logout", nil, 403},
		{"credential POST needs no CSRF token", cred, "POST", "/api-server/v1/credentials", newCred, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.do(tt.c, tt.method, tt.path, tt.body)
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if status == 201 {
				var c credentialJSON
				data(t, body, &c)
				e.secret(c.Token)
			}
		})
	}

	t.Run("me and logout", func(t *testing.T) {
		status, _, body := e.do(sess, "GET", "/api-server/v1/me", nil)
		var me meResponse
		data(t, body, &me)
		if status != 200 || me.Kind != "session" || me.Login != "alice" || me.Role != "EDITOR" || me.CSRFToken == "" {
			t.Fatalf("me: %d %+v", status, me)
		}
		if !strings.Contains(strings.Join(me.Permissions, ","), "manage_own_credentials") || strings.Contains(strings.Join(me.Permissions, ","), "manage_users") {
			t.Fatalf("EDITOR permissions: %v", me.Permissions)
		}
		if status, _, body := e.do(sess, "POST", "/api-server/v1/logout", nil); status != 200 {
			t.Fatalf("logout: %d %s", status, body)
		}
		if status, _, _ := e.do(sess, "GET", "/api-server/v1/me", nil); status != 401 {
			t.Fatalf("me after logout: %d", status)
		}
	})
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, envOptions{auth: auth.Options{MaxFailures: 3}})
	e.user("bob", access.RoleViewer)
	for i := range 3 {
		if s, _, _ := e.do(caller{}, "POST", "/api-server/v1/login", map[string]string{"login": "bob", "password": "wrong-password"}); s != 401 {
			t.Fatalf("attempt %d: %d", i, s)
		}
	}
	s, resp, body := e.do(caller{}, "POST", "/api-server/v1/login", map[string]string{"login": "bob", "password": "pw-bob-secret"})
	if s != 429 || resp.Header.Get("Retry-After") == "" || errorType(t, body) == "" {
		t.Fatalf("after 3 failures: %d %q %s", s, resp.Header.Get("Retry-After"), body)
	}
}

// TestLoginThrottledPerLogin: password failures are counted per login name
// from one address (MaxFailures), per login name from all addresses
// (10*MaxFailures) and per address over distinct login names (MaxFailures,
// against password spraying). One user's wrong passwords never refuse
// another user's login from the same address, and open sessions are never
// refused.
func TestLoginThrottledPerLogin(t *testing.T) {
	clientIP := func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	e := newEnv(t, envOptions{auth: auth.Options{MaxFailures: 3, ClientIP: clientIP}})
	bob := e.user("bob", access.RoleViewer)
	e.user("alice", access.RoleViewer)
	bobSession := e.sessionCaller(&bob)
	login := func(addr, name, password string) (int, *http.Response) {
		t.Helper()
		c := caller{apply: func(r *http.Request) { r.Header.Set("X-Test-Client", addr) }}
		s, resp, body := e.do(c, "POST", "/api-server/v1/login", map[string]string{"login": name, "password": password})
		if s == 200 {
			for _, ck := range resp.Cookies() {
				e.secret(ck.Value)
			}
		} else {
			errorType(t, body)
		}
		return s, resp
	}
	want := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d, want %d", what, got, want)
		}
	}

	for i := range 3 {
		s, _ := login("10.0.0.1", "bob", "wrong-password")
		want(fmt.Sprintf("bob's wrong password %d", i+1), s, 401)
	}
	s, resp := login("10.0.0.1", "BOB", "pw-bob-secret")
	want("bob (any case) from the guessing address", s, 429)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	s, _ = login("10.0.0.1", "alice", "pw-alice-secret")
	want("alice from the same address", s, 200)
	s, _ = login("10.0.0.2", "bob", "pw-bob-secret")
	want("bob from another address", s, 200)

	// Guessing bob's password from many addresses stops at 10*MaxFailures
	// (3 of them were made above).
	for i := range 27 {
		s, _ := login(fmt.Sprintf("10.1.0.%d", i), "bob", "wrong-password")
		want(fmt.Sprintf("spread guess %d", i+1), s, 401)
	}
	s, _ = login("10.2.0.1", "bob", "pw-bob-secret")
	want("bob from a fresh address while guessed everywhere", s, 429)
	if status, _, body := e.do(bobSession, "GET", "/api-server/v1/me", nil); status != 200 {
		t.Fatalf("bob's open session: %d %s", status, body)
	}
	s, _ = login("10.2.0.1", "alice", "pw-alice-secret")
	want("alice meanwhile", s, 200)

	// Password spraying: distinct login names from one address.
	for i, name := range []string{"carol", "dave", "erin"} {
		s, _ := login("10.3.0.1", name, "Winter2026!")
		want(fmt.Sprintf("sprayed login %d", i+1), s, 401)
	}
	s, _ = login("10.3.0.1", "frank", "Winter2026!")
	want("fourth sprayed login", s, 429)
	s, _ = login("10.3.0.2", "alice", "pw-alice-secret")
	want("alice from another address", s, 200)

	// Guesses sent at once cannot overshoot the limit: each counts before
	// its (slow) password check, and only a success gives its count back.
	e.user("gina", access.RoleViewer)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := login("10.4.0.1", "gina", "wrong-password")
			mu.Lock()
			statuses[s]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[401] != 3 || statuses[429] != 9 {
		t.Fatalf("12 guesses at once: %v, want 3 x 401 and 9 x 429", statuses)
	}
	// A right password gives back what it counted, and clears its own
	// address's count: two typos, a success, then the full allowance again.
	e.user("hank", access.RoleViewer)
	for range 2 {
		s, _ := login("10.5.0.1", "hank", "wrong-password")
		want("hank's typo", s, 401)
	}
	s, _ = login("10.5.0.1", "hank", "pw-hank-secret")
	want("hank's password", s, 200)
	for range 2 {
		s, _ := login("10.5.0.1", "hank", "wrong-password")
		want("hank's later typo", s, 401)
	}
	s, _ = login("10.5.0.1", "hank", "pw-hank-secret")
	want("hank's password again", s, 200)
}

func TestLastOwner(t *testing.T) {
	e := newEnv(t, envOptions{})
	owner := e.user("root", access.RoleOwner)
	sess := e.sessionCaller(&owner)
	self := fmt.Sprintf("/api-server/v1/users/%d", owner.ID)
	for _, tt := range []struct {
		name, method string
		body         any
	}{
		{"demote self", "PATCH", map[string]any{"role": "EDITOR"}},
		{"disable self", "PATCH", map[string]any{"disabled": true}},
		{"delete self", "DELETE", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.do(sess, tt.method, self, tt.body)
			if status != http.StatusConflict || errorType(t, body) != "conflict" {
				t.Fatalf("status %d, want 409: %s", status, body)
			}
		})
	}
	other := e.user("root2", access.RoleOwner)
	if status, _, body := e.do(sess, "PATCH", self, map[string]any{"role": "EDITOR"}); status != 200 {
		t.Fatalf("demote self with another OWNER: %d %s", status, body)
	}
	// Demoted at once: the session is an EDITOR now.
	if status, _, _ := e.do(sess, "PATCH", fmt.Sprintf("/api-server/v1/users/%d", other.ID), map[string]any{"role": "VIEWER"}); status != 403 {
		t.Fatalf("demoted user still manages users: %d", status)
	}
}

func TestCredentialCreateRules(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	owner := e.user("olga", access.RoleOwner)
	sess := e.sessionCaller(&owner)
	plain := e.credCaller(&owner, manage.CredentialSpec{Scope: access.ScopeRead | access.ScopeWrite})
	withSelector := e.credCaller(&owner, manage.CredentialSpec{Selector: `{env="prod"}`, Scope: access.ScopeRead | access.ScopeWrite})
	onlyDS2 := e.credCaller(&owner, manage.CredentialSpec{DataSourceIDs: []int64{2}, Scope: access.ScopeRead | access.ScopeWrite})
	readOnly := e.credCaller(&owner, manage.CredentialSpec{Scope: access.ScopeRead})
	writeOnly := e.credCaller(&owner, manage.CredentialSpec{Scope: access.ScopeWrite})
	exp := time.Now().Add(time.Hour)
	shortLived := e.credCaller(&owner, manage.CredentialSpec{ExpiresAt: &exp, Scope: access.ScopeRead | access.ScopeWrite})
	globalOwner := e.credCaller(nil, manage.CredentialSpec{Role: access.RoleOwner, Scope: access.ScopeRead | access.ScopeWrite})

	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	tests := []struct {
		name  string
		c     caller
		path  string
		body  any
		want  int
		check func(t *testing.T, c credentialJSON)
	}{
		{"minimal", sess, "/api-server/v1/credentials", map[string]any{"name": "a"}, 201, func(t *testing.T, c credentialJSON) {
			if c.Scope != "read" || c.DataSourceIDs != nil || c.ExpiresAt != nil || c.Kind != "user" || c.CreatedBy != "olga" {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{"full", sess, "/api-server/v1/credentials", map[string]any{"name": "b", "expiresIn": "30d", "scope": []string{"read", "write"}, "dataSourceIds": []int64{2, 1, 2}, "selector": `{env="prod"}`}, 201, func(t *testing.T, c credentialJSON) {
			if c.Scope != "read,write" || fmt.Sprint(c.DataSourceIDs) != "[1 2]" || c.Selector != `{env="prod"}` || c.ExpiresAt == nil || c.ExpiresAt.Before(time.Now().Add(29*24*time.Hour)) {
				t.Errorf("full: %+v", c)
			}
		}},
		{"expiresAt", sess, "/api-server/v1/credentials", map[string]any{"name": "c", "expiresAt": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}, 201, nil},
		{"no name", sess, "/api-server/v1/credentials", map[string]any{}, 400, nil},
		{"bad selector", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "selector": `{env="prod"`}, 400, nil},
		{"selector matching everything", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "selector": `{env=~".*"}`}, 400, nil},
		{"unknown data source", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "dataSourceIds": []int64{99}}, 400, nil},
		{"empty data source list", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "dataSourceIds": []int64{}}, 400, nil},
		{"bad scope", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "scope": "admin"}, 400, nil},
		{"bad expiresIn", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "expiresIn": "soon"}, 400, nil},
		{"expiry in the past", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "expiresAt": past}, 400, nil},
		{"both expiries", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "expiresIn": "1h", "expiresAt": time.Now().Add(time.Hour)}, 400, nil},
		{"typo field", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "expires_in": "1h"}, 400, nil},
		{"role on own credential", sess, "/api-server/v1/credentials", map[string]any{"name": "x", "role": "OWNER"}, 400, nil},
		{"global without role", sess, "/api-server/v1/global-credentials", map[string]any{"name": "x"}, 400, nil},
		{"global with role", sess, "/api-server/v1/global-credentials", map[string]any{"name": "g", "role": "editor"}, 201, func(t *testing.T, c credentialJSON) {
			if c.Kind != "global" || c.Role != "EDITOR" || c.UserID != nil {
				t.Errorf("global: %+v", c)
			}
		}},
		{"plain credential creates one", plain, "/api-server/v1/credentials", map[string]any{"name": "x"}, 201, nil},
		{"selector credential may not create", withSelector, "/api-server/v1/credentials", map[string]any{"name": "x", "selector": `{env="prod"}`}, 403, nil},
		{"selector credential may not manage users", withSelector, "/api-server/v1/users", map[string]any{"login": "evil", "password": "evil-password"}, 403, nil},
		{"DS-limited credential may not reach another DS", onlyDS2, "/api-server/v1/credentials", map[string]any{"name": "x", "dataSourceIds": []int64{1}}, 403, nil},
		{"DS-limited credential passes its limit on", onlyDS2, "/api-server/v1/credentials", map[string]any{"name": "x"}, 201, func(t *testing.T, c credentialJSON) {
			if fmt.Sprint(c.DataSourceIDs) != "[2]" {
				t.Errorf("data sources %v, want [2]", c.DataSourceIDs)
			}
		}},
		{"DS-limited credential may not create users", onlyDS2, "/api-server/v1/users", map[string]any{"login": "evil", "password": "evil-password"}, 403, nil},
		{"read-only credential may not mint write", readOnly, "/api-server/v1/credentials", map[string]any{"name": "x", "scope": "read,write"}, 403, nil},
		{"read-only credential mints nothing", readOnly, "/api-server/v1/credentials", map[string]any{"name": "x", "scope": "read"}, 403, nil},
		{"write-only credential mints nothing", writeOnly, "/api-server/v1/credentials", map[string]any{"name": "x", "scope": "write"}, 403, nil},
		{"read,write credential mints write-only", plain, "/api-server/v1/credentials", map[string]any{"name": "x", "scope": "write"}, 201, nil},
		{"short-lived credential passes its expiry on", shortLived, "/api-server/v1/credentials", map[string]any{"name": "x"}, 201, func(t *testing.T, c credentialJSON) {
			if c.ExpiresAt == nil || c.ExpiresAt.After(exp.Add(time.Second)) {
				t.Errorf("expiry %v, want at most %v", c.ExpiresAt, exp)
			}
		}},
		{"global OWNER credential creates global credential", globalOwner, "/api-server/v1/global-credentials", map[string]any{"name": "x", "role": "VIEWER"}, 201, nil},
		{"global credential has no own credentials", globalOwner, "/api-server/v1/credentials", map[string]any{"name": "x"}, 403, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.do(tt.c, "POST", tt.path, tt.body)
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if status != 201 {
				errorType(t, body)
				return
			}
			var c credentialJSON
			data(t, body, &c)
			if !auth.ValidKey(c.Key) || !auth.ValidToken(c.Token) {
				t.Fatalf("bad key/token in response: %s", body)
			}
			e.secret(c.Token)
			if tt.check != nil {
				tt.check(t, c)
			}
			// The token works at once, and is never listed.
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1/", nil)
			req.SetBasicAuth(c.Key, c.Token)
			if _, err := e.a.Authenticate(req); err != nil {
				t.Fatalf("new credential does not authenticate: %v", err)
			}
			for _, path := range []string{"/api-server/v1/credentials", "/api-server/v1/global-credentials"} {
				_, _, list := e.do(sess, "GET", path+"?includeRevoked=true", nil)
				if strings.Contains(string(list), c.Token) || strings.Contains(strings.ToLower(string(list)), "hash") {
					t.Fatalf("list shows a token or hash: %s", list)
				}
			}
		})
	}
}

// TestChangesViaAPIApplyOnNextRequest: changes made through the API reach
// a credential whose verification is cached (TTL one hour, no polling).
func TestChangesViaAPIApplyOnNextRequest(t *testing.T) {
	e := newEnv(t, envOptions{auth: auth.Options{CacheTTL: time.Hour, GenerationPoll: -1}})
	owner := e.user("boss", access.RoleOwner)
	boss := e.sessionCaller(&owner)
	ed := e.user("ed", access.RoleEditor)
	edCred := e.credCaller(&ed, manage.CredentialSpec{})
	userPath := fmt.Sprintf("/api-server/v1/users/%d", ed.ID)

	steps := []struct {
		name   string
		change func() (int, []byte)
		c      caller
		method string
		path   string
		want   int
	}{
		{"warm", nil, edCred, "GET", "/api-server/v1/endpoints", 200},
		{"demote to VIEWER", func() (int, []byte) {
			s, _, b := e.do(boss, "PATCH", userPath, map[string]any{"role": "VIEWER"})
			return s, b
		}, edCred, "GET", "/api-server/v1/endpoints", 403},
		{"promote back", func() (int, []byte) {
			s, _, b := e.do(boss, "PATCH", userPath, map[string]any{"role": "EDITOR"})
			return s, b
		}, edCred, "GET", "/api-server/v1/endpoints", 200},
		{"disable", func() (int, []byte) {
			s, _, b := e.do(boss, "PATCH", userPath, map[string]any{"disabled": true})
			return s, b
		}, edCred, "GET", "/api-server/v1/me", 401},
		{"enable", func() (int, []byte) {
			s, _, b := e.do(boss, "PATCH", userPath, map[string]any{"disabled": false})
			return s, b
		}, edCred, "GET", "/api-server/v1/me", 200},
		{"delete", func() (int, []byte) {
			s, _, b := e.do(boss, "DELETE", userPath, nil)
			return s, b
		}, edCred, "GET", "/api-server/v1/me", 401},
	}
	for _, st := range steps {
		if st.change != nil {
			if s, b := st.change(); s != 200 {
				t.Fatalf("%s: %d %s", st.name, s, b)
			}
		}
		if s, _, b := e.do(st.c, st.method, st.path, nil); s != st.want {
			t.Fatalf("%s: next request %d, want %d: %s", st.name, s, st.want, b)
		}
	}

	// Revoke own credential through the API: refused on the next request.
	sess := e.sessionCaller(&owner)
	_, _, body := e.do(sess, "POST", "/api-server/v1/credentials", map[string]any{"name": "r"})
	var c credentialJSON
	data(t, body, &c)
	e.secret(c.Token)
	cc := caller{apply: func(r *http.Request) { r.SetBasicAuth(c.Key, c.Token) }}
	if s, _, _ := e.do(cc, "GET", "/api-server/v1/me", nil); s != 200 {
		t.Fatal("new credential refused")
	}
	if s, _, b := e.do(sess, "DELETE", fmt.Sprintf("/api-server/v1/credentials/%d", c.ID), nil); s != 200 {
		t.Fatalf("revoke: %d %s", s, b)
	}
	if s, _, _ := e.do(cc, "GET", "/api-server/v1/me", nil); s != 401 {
		t.Fatalf("revoked credential accepted: %d", s)
	}
	// Someone else's credential is not found, not revoked.
	other := e.user("other", access.RoleEditor)
	oc, tok, err := e.m.CreateCredential(context.Background(), audit.System, manage.CredentialSpec{Name: "o", UserID: &other.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.secret(tok)
	if s, _, _ := e.do(sess, "DELETE", fmt.Sprintf("/api-server/v1/credentials/%d", oc.ID), nil); s != 404 {
		t.Fatalf("revoking another user's credential: %d, want 404", s)
	}
	if s, _, _ := e.do(sess, "DELETE", fmt.Sprintf("/api-server/v1/global-credentials/%d", oc.ID), nil); s != 404 {
		t.Fatalf("revoking a user credential as global: %d, want 404", s)
	}
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		opts     envOptions
		header   map[string]string
		limitDS  []int64
		wantBase string // "" means the test server's own URL
		wantIDs  string
	}{
		{"from request", envOptions{}, nil, nil, "", "[1 2]"},
		{"external URL", envOptions{externalURL: "https://metrics.example.com/pg/"}, nil, nil, "https://metrics.example.com/pg", "[1 2]"},
		{"forwarded proto ignored by default", envOptions{}, map[string]string{"X-Forwarded-Proto": "https"}, nil, "", "[1 2]"},
		{"forwarded proto trusted", envOptions{trustProto: true}, map[string]string{"X-Forwarded-Proto": "https"}, nil, "https://", "[1 2]"},
		{"limited credential sees its data sources", envOptions{}, nil, []int64{2}, "", "[2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			u := e.user("eve", access.RoleEditor)
			c := e.credCaller(&u, manage.CredentialSpec{DataSourceIDs: tt.limitDS})
			inner := c.apply
			c.apply = func(r *http.Request) {
				inner(r)
				for k, v := range tt.header {
					r.Header.Set(k, v)
				}
			}
			status, _, body := e.do(c, "GET", "/api-server/v1/endpoints", nil)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			var eps []endpointJSON
			data(t, body, &eps)
			var ids []int64
			base := tt.wantBase
			host := strings.TrimPrefix(e.srv.URL, "http://")
			switch base {
			case "":
				base = e.srv.URL
			case "https://":
				base = "https://" + host
			}
			for _, ep := range eps {
				ids = append(ids, ep.ID)
				want := fmt.Sprintf("%s/api-server/v1/grafana/api/datasources/proxy/%d/api/v1/query", base, ep.ID)
				if ep.InstantURL != want || ep.RangeURL != want+"_range" {
					t.Errorf("urls %q %q, want %q", ep.InstantURL, ep.RangeURL, want)
				}
			}
			if fmt.Sprint(ids) != tt.wantIDs {
				t.Fatalf("data sources %v, want %s", ids, tt.wantIDs)
			}
		})
	}
}

func TestUnknownPathsAndBadInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	u := e.user("oscar", access.RoleOwner)
	c := e.credCaller(&u, manage.CredentialSpec{Scope: access.ScopeRead | access.ScopeWrite})
	tests := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"unknown path", "GET", "/api-server/v1/nope", nil, 404},
		{"wrong method", "PUT", "/api-server/v1/credentials", nil, 404},
		{"bad id", "DELETE", "/api-server/v1/credentials/abc", nil, 400},
		{"negative id", "PATCH", "/api-server/v1/users/-1", map[string]any{"role": "VIEWER"}, 400},
		{"missing user", "PATCH", "/api-server/v1/users/9999", map[string]any{"role": "VIEWER"}, 404},
		{"empty patch", "PATCH", fmt.Sprintf("/api-server/v1/users/%d", u.ID), map[string]any{}, 400},
		{"bad role", "PATCH", fmt.Sprintf("/api-server/v1/users/%d", u.ID), map[string]any{"role": "ROOT"}, 400},
		{"duplicate login", "POST", "/api-server/v1/users", map[string]any{"login": "OSCAR", "password": "long-enough-pw"}, 409},
		{"short password", "POST", "/api-server/v1/users", map[string]any{"login": "pat", "password": "short"}, 400},
		{"login with space", "POST", "/api-server/v1/users", map[string]any{"login": "p t", "password": "long-enough-pw"}, 400},
		{"unicode login is fine", "POST", "/api-server/v1/users", map[string]any{"login": "zoë", "password": "long-enough-pw"}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.do(c, tt.method, tt.path, tt.body)
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if status >= 400 {
				errorType(t, body)
			}
		})
	}
	e.secret("long-enough-pw")
	// The users list never carries password hashes.
	_, _, body := e.do(c, "GET", "/api-server/v1/users", nil)
	if strings.Contains(string(body), "argon2") {
		t.Fatalf("users list leaks hashes: %s", body)
	}
	var users []map[string]any
	data(t, body, &users)
	if b, _ := json.Marshal(users); len(users) != 2 || strings.Contains(string(b), "assword") {
		t.Fatalf("users: %s", b)
	}
}
