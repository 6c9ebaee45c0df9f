package manage_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/sqlstore"
)

func openStore(t testing.TB, path string) store.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestChangesApplyOnNextRequest warms an authenticator's cache (TTL one
// hour, no generation polling), changes access through the Manager wired
// to it, and expects the very next request over HTTP to see the change,
// and an audit row for each change.
func TestChangesApplyOnNextRequest(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		action string
		change func(m *manage.Manager, u store.User, c store.Credential) error
		want   int
	}{
		{"revoke", "credential.revoke", func(m *manage.Manager, u store.User, c store.Credential) error {
			return m.RevokeCredential(ctx, audit.System, c.ID)
		}, 401},
		{"demote", "user.role", func(m *manage.Manager, u store.User, c store.Credential) error {
			return m.SetUserRole(ctx, audit.System, u.ID, access.RoleViewer)
		}, 403},
		{"disable", "user.disable", func(m *manage.Manager, u store.User, c store.Credential) error {
			return m.SetUserDisabled(ctx, audit.System, u.ID, true)
		}, 401},
		{"delete user", "user.delete", func(m *manage.Manager, u store.User, c store.Credential) error {
			return m.DeleteUser(ctx, audit.System, u.ID)
		}, 401},
		{"new password", "user.password", func(m *manage.Manager, u store.User, c store.Credential) error {
			return m.SetUserPassword(ctx, audit.System, u.ID, "another-password")
		}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "promgate.db"))
			a := auth.New(auth.Options{Store: st, CacheTTL: time.Hour, GenerationPoll: -1})
			t.Cleanup(func() { _ = a.Close() })
			m := manage.New(manage.Options{Store: st, AccessChanged: a.Invalidate})
			srv := httptest.NewServer(a.Require(false)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !access.PrincipalFrom(r.Context()).Can(access.ActionManageUsers) {
					w.WriteHeader(http.StatusForbidden)
				}
			})))
			t.Cleanup(srv.Close)
			if _, err := m.CreateUser(ctx, audit.System, "keeper", "keeper-password", access.RoleOwner); err != nil {
				t.Fatal(err)
			}
			u, err := m.CreateUser(ctx, audit.System, "carol", "carol-password", access.RoleOwner)
			if err != nil {
				t.Fatal(err)
			}
			c, tok, err := m.CreateCredential(ctx, audit.System, manage.CredentialSpec{Name: "c", UserID: &u.ID, Scope: access.ScopeRead | access.ScopeWrite})
			if err != nil {
				t.Fatal(err)
			}
			get := func() int {
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				req.SetBasicAuth(c.Key, tok)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				return resp.StatusCode
			}
			if s := get(); s != 200 {
				t.Fatalf("before: status %d", s)
			}
			if err := tt.change(m, u, c); err != nil {
				t.Fatalf("change: %v", err)
			}
			if s := get(); s != tt.want {
				t.Fatalf("after: status %d, want %d", s, tt.want)
			}
			events, err := st.ListAudit(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, e := range events {
				seen[e.Action] = true
				if strings.Contains(e.Detail+e.Target, "password") && e.Action != "user.password" {
					t.Errorf("audit event mentions a password: %+v", e)
				}
			}
			for _, want := range []string{"user.create", "credential.create", tt.action} {
				if !seen[want] {
					t.Errorf("no %s audit event (have %v)", want, seen)
				}
			}
		})
	}
}

// TestLastOwner refuses every change that would leave no enabled OWNER.
func TestLastOwner(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "promgate.db"))
	m := manage.New(manage.Options{Store: st})
	u, err := m.CreateUser(ctx, audit.System, "only", "only-password", access.RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func() error{
		"demote":  func() error { return m.SetUserRole(ctx, audit.System, u.ID, access.RoleEditor) },
		"disable": func() error { return m.SetUserDisabled(ctx, audit.System, u.ID, true) },
		"delete":  func() error { return m.DeleteUser(ctx, audit.System, u.ID) },
	} {
		if err := change(); err != manage.ErrLastOwner {
			t.Errorf("%s the last OWNER: %v, want ErrLastOwner", name, err)
		}
	}
}

func TestEnsureInitialOwner(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		env      string
		wantFile bool
	}{
		{"random password to file", "", true},
		{"password from environment", "env-secret-pw-123", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, filepath.Join(dir, "promgate.db"))
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			if err := manage.New(manage.Options{Store: st, Logger: logger}).EnsureInitialOwner(ctx, dir, tt.env); err != nil {
				t.Fatal(err)
			}
			u, err := st.GetUserByLogin(ctx, "admin")
			if err != nil || u.Role != "OWNER" {
				t.Fatalf("admin: %+v %v", u, err)
			}
			file := filepath.Join(dir, manage.InitialOwnerPasswordFile)
			password := tt.env
			fi, err := os.Stat(file)
			if tt.wantFile {
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
				}
				b, _ := os.ReadFile(file)
				password = strings.TrimSpace(string(b))
				if !strings.Contains(logs.String(), file) {
					t.Errorf("log does not name the file: %s", logs.String())
				}
			} else if err == nil {
				t.Fatal("password file written although the password came from the environment")
			}
			if err := auth.VerifyPassword(u.PasswordHash, password); err != nil {
				t.Fatalf("password does not verify: %v", err)
			}
			if strings.Contains(logs.String(), password) {
				t.Error("the password appears in the logs")
			}
			// Second start: nothing changes.
			if err := manage.New(manage.Options{Store: st, Logger: logger}).EnsureInitialOwner(ctx, dir, "other-password-1"); err != nil {
				t.Fatal(err)
			}
			if n, _ := st.CountUsers(ctx); n != 1 {
				t.Fatalf("%d users after second start", n)
			}
		})
	}
}
