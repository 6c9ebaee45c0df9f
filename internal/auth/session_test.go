package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/store"
)

// sessionServer serves POST /login (JSON {"login","password"}, answering
// with the session cookie) and, behind Require(true), every other path
// echoing the principal: a browser's view of promgate, over real HTTP.
func sessionServer(t testing.TB, a *Authenticator) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Login, Password string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			promapi.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
			return
		}
		_, csrf, err := a.Login(r.Context(), w, r, req.Login, req.Password)
		switch {
		case err == nil:
			_ = json.NewEncoder(w).Encode(map[string]string{"csrfToken": csrf})
		case errors.Is(err, ErrLoginFailed):
			WriteUnauthorized(w, r, err.Error())
		default:
			promapi.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		}
	})
	mux.Handle("/", a.Require(true)(http.HandlerFunc(echoPrincipal)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// login posts the credentials and returns the status and the session
// cookie, nil if none was set.
func login(t testing.TB, srv *httptest.Server, user, password string) (int, *http.Cookie) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login": user, "password": password})
	resp, err := srv.Client().Post(srv.URL+"/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	var c *http.Cookie
	for _, rc := range resp.Cookies() {
		if rc.Value != "" {
			c = rc
		}
	}
	return resp.StatusCode, c
}

// getWithCookie sends GET / with the session cookie and returns the status
// and the principal echoed on success.
func getWithCookie(t testing.TB, srv *httptest.Server, c *http.Cookie) (int, principalJSON) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(c)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var p principalJSON
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatalf("decode principal: %v", err)
		}
	}
	return resp.StatusCode, p
}

// TestUserChangesEndSessions logs in over HTTP, changes the user through
// the management operations, and expects the old session cookie to be
// refused from the very next request, and the session row to be gone from
// the store. The change is made either by the serving Authenticator or by
// another one on the same SQLite file (the admin CLI, another replica):
// sessions live only in the store, so both end them at once, without
// waiting for any cache or poll.
func TestUserChangesEndSessions(t *testing.T) {
	ctx := context.Background()
	const newPassword = "a-brand-new-password"
	tests := []struct {
		name         string
		change       func(a *Authenticator, u store.User) error
		wantOld      int    // status for the old cookie after the change
		wantRole     string // role seen through the old cookie when 200
		wantLoginOld int    // status of a new login with the old password
	}{
		{"password change", func(a *Authenticator, u store.User) error {
			return change(a, a.st.SetUserPassword(ctx, u.ID, mustHash(newPassword)))
		}, 401, "", 401},
		{"disable", func(a *Authenticator, u store.User) error {
			return change(a, a.st.SetUserDisabled(ctx, u.ID, true))
		}, 401, "", 401},
		// Refusing a disabled user's session is not enough: the session
		// must be gone, or enabling the user would bring it back.
		{"disable then enable", func(a *Authenticator, u store.User) error {
			if err := change(a, a.st.SetUserDisabled(ctx, u.ID, true)); err != nil {
				return err
			}
			return change(a, a.st.SetUserDisabled(ctx, u.ID, false))
		}, 401, "", 200},
		{"password set to the same password", func(a *Authenticator, u store.User) error {
			return change(a, a.st.SetUserPassword(ctx, u.ID, mustHash("password-"+u.Login)))
		}, 401, "", 200},
		// Control: a role change applies to the session and keeps it.
		{"role change keeps the session", func(a *Authenticator, u store.User) error {
			return change(a, a.st.SetUserRole(ctx, u.ID, access.RoleViewer.String()))
		}, 200, "VIEWER", 200},
	}
	for _, via := range []string{"same authenticator", "other authenticator"} {
		for _, tt := range tests {
			t.Run(via+"/"+tt.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "promgate.db")
				f := newFixture(t, Options{Store: openStore(t, path), GenerationPoll: -1}, true)
				changer := f.a
				if via == "other authenticator" {
					changer = newFixture(t, Options{Store: openStore(t, path), GenerationPoll: -1}, true).a
				}
				srv := sessionServer(t, f.a)
				f.user(t, "keeper", access.RoleOwner) // so "last OWNER" never blocks
				u := f.user(t, "dave", access.RoleEditor)
				f.user(t, "erin", access.RoleEditor)

				status, cookie := login(t, srv, "dave", "password-dave")
				if status != 200 || cookie == nil {
					t.Fatalf("login: status %d, cookie %v", status, cookie)
				}
				status, otherCookie := login(t, srv, "erin", "password-erin")
				if status != 200 || otherCookie == nil {
					t.Fatalf("login erin: status %d, cookie %v", status, otherCookie)
				}
				if status, p := getWithCookie(t, srv, cookie); status != 200 || p.Kind != "session" || p.Login != "dave" || p.Role != "EDITOR" {
					t.Fatalf("before: status %d, principal %+v", status, p)
				}

				if err := tt.change(changer, u); err != nil {
					t.Fatalf("change: %v", err)
				}

				status, p := getWithCookie(t, srv, cookie)
				if status != tt.wantOld {
					t.Fatalf("old cookie after the change: status %d, want %d", status, tt.wantOld)
				}
				_, err := f.st.GetSession(ctx, HashToken(cookie.Value))
				if gone := errors.Is(err, store.ErrNotFound); gone != (tt.wantOld == 401) {
					t.Errorf("session in the store after the change: err %v, want gone=%v", err, tt.wantOld == 401)
				}
				if status == 200 && p.Role != tt.wantRole {
					t.Errorf("old cookie after the change: role %s, want %s", p.Role, tt.wantRole)
				}
				// Another user's session is not touched.
				if status, p := getWithCookie(t, srv, otherCookie); status != 200 || p.Login != "erin" {
					t.Errorf("other user's cookie after the change: status %d, principal %+v", status, p)
				}
				if status, _ := login(t, srv, "dave", "password-dave"); status != tt.wantLoginOld {
					t.Errorf("login with the old password: status %d, want %d", status, tt.wantLoginOld)
				}
				if tt.name == "password change" {
					status, c := login(t, srv, "dave", newPassword)
					if status != 200 || c == nil {
						t.Fatalf("login with the new password: status %d", status)
					}
					if status, _ := getWithCookie(t, srv, c); status != 200 {
						t.Errorf("new session: status %d", status)
					}
				}
			})
		}
	}
}

// raceStore runs before once, at the first CreateSession, just before the
// session is written: a change committed by someone else between Login's
// checks and its session insert.
type raceStore struct {
	store.Store
	once   sync.Once
	before func(ctx context.Context, userID int64) error
	err    error  // from before
	idHash []byte // of the session Login tried to create
}

func (r *raceStore) CreateSession(ctx context.Context, s store.Session) error {
	r.once.Do(func() {
		r.idHash = s.IDHash
		r.err = r.before(ctx, s.UserID)
	})
	return r.Store.CreateSession(ctx, s)
}

// TestLoginOvertakenByUserChange: a password change or disable that commits
// while a login with the old password is under way (after its password
// check, before its session exists) must not leave that login a session.
func TestLoginOvertakenByUserChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(ctx context.Context, st store.Store, userID int64) error
	}{
		{"password change", func(ctx context.Context, st store.Store, id int64) error {
			hash, err := HashPassword("changed-during-login")
			if err != nil {
				return err
			}
			return st.SetUserPassword(ctx, id, hash)
		}},
		{"disable", func(ctx context.Context, st store.Store, id int64) error {
			return st.SetUserDisabled(ctx, id, true)
		}},
		{"delete", func(ctx context.Context, st store.Store, id int64) error {
			// CreateSession itself then fails: the user is gone.
			return st.DeleteUser(ctx, id)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "promgate.db")
			// The change comes through a second handle on the file, as from
			// another process.
			other := openStore(t, path)
			rs := &raceStore{Store: openStore(t, path)}
			rs.before = func(ctx context.Context, id int64) error { return tt.change(ctx, other, id) }
			f := newFixture(t, Options{Store: rs, GenerationPoll: -1}, true)
			srv := sessionServer(t, f.a)
			f.user(t, "frank", access.RoleEditor)

			status, cookie := login(t, srv, "frank", "password-frank")
			if rs.err != nil {
				t.Fatalf("change during login: %v", rs.err)
			}
			if status == 200 || cookie != nil {
				t.Fatalf("login overtaken by a change: status %d, cookie %v; want no session", status, cookie)
			}
			// Nothing is left behind in the store.
			if rs.idHash == nil {
				t.Fatal("Login never tried to create a session")
			}
			if _, err := other.GetSession(context.Background(), rs.idHash); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the overtaken login's session: %v, want ErrNotFound", err)
			}
			var n int
			for _, e := range mustAudit(t, other) {
				if e.Action == "login.success" {
					n++
				}
			}
			if n != 0 {
				t.Errorf("%d login.success audit events, want 0", n)
			}
		})
	}
}

func mustAudit(t testing.TB, st store.Store) []store.AuditEvent {
	t.Helper()
	ev, err := st.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
