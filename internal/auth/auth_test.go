package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/store"
)

func TestAuthenticateHeaders(t *testing.T) {
	f := newFixture(t, Options{MaxFailures: 1000}, false)
	u := f.user(t, "alice", access.RoleEditor)
	c, tok := f.cred(t, credSpec{UserID: &u.ID})
	key := c.Key
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	_, otherTok, _ := GenerateCredential()

	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"basic key:token", basic(key, tok), 200},
		{"bearer key:token", bearer(key, tok), 200},
		{"basic lower-case scheme", http.Header{"Authorization": {"basic " + b64(key+":"+tok)}}, 200},
		{"bearer lower-case scheme", http.Header{"Authorization": {"bearer " + key + ":" + tok}}, 200},
		{"no header", nil, 401},
		{"wrong token, right format", basic(key, otherTok), 401},
		{"token only in bearer", http.Header{"Authorization": {"Bearer " + tok}}, 401},
		{"empty key", basic("", tok), 401},
		{"empty token", basic(key, ""), 401},
		{"empty basic", http.Header{"Authorization": {"Basic "}}, 401},
		{"scheme only", http.Header{"Authorization": {"Basic"}}, 401},
		{"bad base64", http.Header{"Authorization": {"Basic !!!not-base64"}}, 401},
		{"base64 without colon", http.Header{"Authorization": {"Basic " + b64(key+tok)}}, 401},
		{"swapped key and token", basic(tok, key), 401},
		{"unknown scheme", http.Header{"Authorization": {"Digest username=x"}}, 401},
		{"two headers", http.Header{"Authorization": {basic(key, tok).Get("Authorization"), bearer(key, tok).Get("Authorization")}}, 401},
		{"huge header", http.Header{"Authorization": {"Basic " + strings.Repeat("A", 64<<10)}}, 401},
		{"unicode key", basic("pgk_ÄÖÜäöüßéèêëàáâã", tok), 401},
		{"unicode token", basic(key, "pgt_😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀_AAAAAA"), 401},
		{"unicode bearer", http.Header{"Authorization": {"Bearer 🔑:🔒"}}, 401},
		{"NUL bytes", http.Header{"Authorization": {"Basic " + b64(key+":\x00"+tok)}}, 401},
		{"unknown key, valid shape", basic("pgk_AAAAAAAAAAAAAAAA", tok), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := f.get(t, tt.header)
			if status != tt.want {
				t.Fatalf("status %d, want %d; body %s", status, tt.want, body)
			}
			if status != 401 {
				return
			}
			if got := h.Get("WWW-Authenticate"); got != `Basic realm="promgate"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			var e struct{ Status, ErrorType, Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Status != "error" || e.ErrorType != "unauthorized" || e.Error == "" {
				t.Errorf("body %q is not a Prometheus-style unauthorized error", body)
			}
			if strings.Contains(body, tok) || strings.Contains(body, otherTok) {
				t.Error("response echoes a token")
			}
		})
	}
	if err := f.a.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, f.logs.String(), tok, otherTok, "password-alice")
}

func TestPrincipalFromCredential(t *testing.T) {
	f := newFixture(t, Options{}, false)
	u := f.user(t, "bob", access.RoleOwner)
	uc, utok := f.cred(t, credSpec{UserID: &u.ID, Scope: access.ScopeRead | access.ScopeWrite, DataSourceIDs: []int64{2, 1}, Selector: `{env="prod"}`})
	gc, gtok := f.cred(t, credSpec{Role: access.RoleViewer})

	tests := []struct {
		name  string
		h     http.Header
		want  principalJSON
		check func(principalJSON) bool
	}{
		{"user credential", basic(uc.Key, utok), principalJSON{Kind: "user_credential", Role: "OWNER", Login: "bob", Key: uc.Key, Scope: "read,write", Selector: `{env="prod"}`, DataSourceIDs: []int64{1, 2}}, nil},
		{"global credential", basic(gc.Key, gtok), principalJSON{Kind: "global_credential", Role: "VIEWER", Key: gc.Key, Scope: "read"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := f.get(t, tt.h)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			var got principalJSON
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Fatalf("principal %s, want %s", gb, wb)
			}
		})
	}
}

// TestChangesApplyOnNextRequest warms the cache (TTL one hour, no
// generation polling), changes access through the Authenticator, and
// expects the very next request to see it.
func TestChangesApplyOnNextRequest(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		global bool
		change func(f *fixture, u store.User, c store.Credential) error
		want   int    // status after the change
		role   string // role seen after the change, when 200
	}{
		{"revoke", false, func(f *fixture, u store.User, c store.Credential) error {
			return change(f.a, f.st.RevokeCredential(ctx, c.ID, time.Now()))
		}, 401, ""},
		{"revoke global", true, func(f *fixture, u store.User, c store.Credential) error {
			return change(f.a, f.st.RevokeCredential(ctx, c.ID, time.Now()))
		}, 401, ""},
		{"demote", false, func(f *fixture, u store.User, c store.Credential) error {
			return change(f.a, f.st.SetUserRole(ctx, u.ID, access.RoleViewer.String()))
		}, 200, "VIEWER"},
		{"disable", false, func(f *fixture, u store.User, c store.Credential) error {
			return change(f.a, f.st.SetUserDisabled(ctx, u.ID, true))
		}, 401, ""},
		{"delete user", false, func(f *fixture, u store.User, c store.Credential) error {
			return change(f.a, f.st.DeleteUser(ctx, u.ID))
		}, 401, ""},
		{"expire", false, func(f *fixture, u store.User, c store.Credential) error {
			f.clock.Advance(2 * time.Hour)
			return nil
		}, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{CacheTTL: time.Hour, GenerationPoll: -1}, false)
			f.user(t, "keeper", access.RoleOwner) // so "last OWNER" never blocks
			u := f.user(t, "carol", access.RoleEditor)
			exp := f.clock.Now().Add(time.Hour)
			spec := credSpec{UserID: &u.ID, ExpiresAt: &exp}
			if tt.global {
				spec = credSpec{Role: access.RoleEditor, ExpiresAt: &exp}
			}
			c, tok := f.cred(t, spec)
			for range 3 {
				if status, _, body := f.get(t, basic(c.Key, tok)); status != 200 {
					t.Fatalf("before: status %d: %s", status, body)
				}
			}
			before := f.st.lookups.Load()
			if status, _, _ := f.get(t, basic(c.Key, tok)); status != 200 {
				t.Fatal("warm request failed")
			}
			if f.st.lookups.Load() != before {
				t.Fatal("warm cache still looked the credential up")
			}
			if err := tt.change(f, u, c); err != nil {
				t.Fatalf("change: %v", err)
			}
			status, _, body := f.get(t, basic(c.Key, tok))
			if status != tt.want {
				t.Fatalf("after: status %d, want %d: %s", status, tt.want, body)
			}
			if tt.role != "" {
				var p principalJSON
				_ = json.Unmarshal([]byte(body), &p)
				if p.Role != tt.role {
					t.Fatalf("after: role %s, want %s", p.Role, tt.role)
				}
			}
		})
	}
}

// TestCrossProcessRevocation runs two Authenticators on one SQLite file, as
// the server and the admin CLI (or two replicas) do: a revocation through
// one is noticed by the other through store.Generation within the poll.
func TestCrossProcessRevocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "promgate.db")
	const poll = 200 * time.Millisecond
	server := newFixture(t, Options{Store: openStore(t, path), CacheTTL: time.Hour, GenerationPoll: poll, Now: time.Now}, false)
	other := newFixture(t, Options{Store: openStore(t, path), GenerationPoll: -1, Now: time.Now}, false)

	ctx := context.Background()
	tests := []struct {
		name   string
		change func(u store.User, c store.Credential) error
		ok     func(status int, body string) bool
	}{
		{"revoke", func(u store.User, c store.Credential) error {
			return change(other.a, other.st.RevokeCredential(ctx, c.ID, time.Now()))
		}, func(s int, _ string) bool { return s == 401 }},
		{"demote", func(u store.User, c store.Credential) error {
			return change(other.a, other.st.SetUserRole(ctx, u.ID, access.RoleViewer.String()))
		}, func(s int, b string) bool { return s == 200 && strings.Contains(b, `"Role":"VIEWER"`) }},
	}
	other.user(t, "keeper", access.RoleOwner)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := other.user(t, "dave"+strconv.Itoa(i), access.RoleEditor)
			c, tok := other.cred(t, credSpec{UserID: &u.ID})
			// Let the server's poller settle on the generation these writes made.
			time.Sleep(2 * poll)
			for range 2 {
				if s, _, b := server.get(t, basic(c.Key, tok)); s != 200 || !strings.Contains(b, "EDITOR") {
					t.Fatalf("before: %d %s", s, b)
				}
			}
			if err := tt.change(u, c); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for {
				s, _, b := server.get(t, basic(c.Key, tok))
				if tt.ok(s, b) {
					break
				}
				// Bound: one poll interval plus a store round trip; allow
				// generous slack for a loaded 2-core machine.
				if time.Since(start) > poll+time.Second {
					t.Fatalf("change not noticed after %v (last: %d %s)", time.Since(start), s, b)
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("noticed after %v", time.Since(start))
		})
	}
}

func TestFailuresAreRateLimited(t *testing.T) {
	f := newFixture(t, Options{MaxFailures: 5, FailureWindow: time.Minute, Lockout: 30 * time.Second}, false)
	u := f.user(t, "erin", access.RoleViewer)
	c, tok := f.cred(t, credSpec{UserID: &u.ID})
	_, wrong, _ := GenerateCredential()

	// Missing credentials do not count: a client without auth configured
	// must not lock out its address.
	for range 10 {
		if s, _, _ := f.get(t, nil); s != 401 {
			t.Fatalf("no credentials: %d", s)
		}
	}
	for i := range 5 {
		if s, _, _ := f.get(t, basic(c.Key, wrong)); s != 401 {
			t.Fatalf("failure %d: status %d, want 401", i+1, s)
		}
	}
	lookups := f.st.lookups.Load()
	// The key is refused from this address, even with its right token: it
	// was never seen working, and answering it would answer guesses.
	for _, h := range []http.Header{basic(c.Key, wrong), basic(c.Key, tok)} {
		s, hdr, body := f.get(t, h)
		if s != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429: %s", s, body)
		}
		if ra, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || ra < 1 || ra > 30 {
			t.Fatalf("Retry-After = %q", hdr.Get("Retry-After"))
		}
	}
	if f.st.lookups.Load() != lookups {
		t.Fatal("a refused client still reached the store")
	}
	// Only what failed is refused: other attempts from the address are not.
	if s, _, _ := f.get(t, http.Header{"Authorization": {"Basic garbage"}}); s != http.StatusUnauthorized {
		t.Fatalf("another attempt from the address: %d, want 401", s)
	}
	f.clock.Advance(31 * time.Second)
	if s, _, body := f.get(t, basic(c.Key, tok)); s != 200 {
		t.Fatalf("after lockout: %d %s", s, body)
	}
}

func TestLastUsedIsUpdated(t *testing.T) {
	f := newFixture(t, Options{Now: time.Now}, false)
	c, tok := f.cred(t, credSpec{Role: access.RoleViewer})
	if s, _, _ := f.get(t, basic(c.Key, tok)); s != 200 {
		t.Fatal("request failed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := f.st.GetCredential(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("last-used-at never set")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", DefaultCacheTTL}, {"uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			st := openStore(b, "")
			a := New(Options{Store: st, CacheTTL: bc.ttl})
			defer func() { _ = a.Close() }()
			u := createUser(b, st, "bench", "bench-password", access.RoleEditor)
			c, tok := createCred(b, st, credSpec{Name: "b", UserID: &u.ID})
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/api/v1/query", nil)
			req.SetBasicAuth(c.Key, tok)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestAuditEvents(t *testing.T) {
	f := newFixture(t, Options{}, true)
	ctx := context.Background()
	f.user(t, "keeper", access.RoleOwner)
	// Logins: one failure, one success, through Login itself.
	req := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/api-server/v1/login", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		return r
	}
	if _, _, err := f.a.Login(ctx, noopWriter{}, req(), "keeper", "wrong-password"); err != ErrLoginFailed {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, err := f.a.Login(ctx, noopWriter{}, req(), "keeper", "password-keeper"); err != nil {
		t.Fatalf("login: %v", err)
	}
	events, err := f.st.ListAudit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range events {
		got[e.Action] = true
		if strings.Contains(e.Detail+e.Target, "password-") {
			t.Errorf("audit event carries a password: %+v", e)
		}
	}
	for _, want := range []string{"login.failure", "login.success"} {
		if !got[want] {
			t.Errorf("no %s audit event (have %v)", want, got)
		}
	}
}

type noopWriter struct{}

func (noopWriter) Header() http.Header         { return http.Header{} }
func (noopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (noopWriter) WriteHeader(int)             {}
