package oidc_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/testkit"
)

// startWithDownProvider starts promgate with one provider whose issuer
// nothing listens at: what promgate does when the provider is down from
// the start.
func startWithDownProvider(t *testing.T) *promtest.Server {
	t.Helper()
	o := config.OIDC{DisablePasswordLogin: true, Providers: []config.OIDCProvider{{
		Name: "Corp", IssuerURL: "http://" + testkit.FreeAddr(t), ClientID: "promgate", Audience: "promgate",
		Scopes: []string{"openid"}, LoginClaim: "email", GroupsClaim: "groups", ReadScope: "read", WriteScope: "write",
		ClockSkew: 30_000_000_000, DefaultRole: "VIEWER",
		SelectorRules: []config.SelectorRule{{ClaimMatch: config.ClaimMatch{Claim: "sub"}, Selector: ""}},
	}}}
	return promtest.Start(t, func(c *app.Config) { c.OIDC = o })
}

func get(t *testing.T, u string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(testkit.Context(t), http.MethodGet, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	// Redirects are what is tested: do not follow them.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSignInPages: the login page offers the provider; a sign-in while it
// is down, a callback that was not started here, an unknown provider and a
// bearer JWT that cannot be checked all get clear refusals.
func TestSignInPages(t *testing.T) {
	s := startWithDownProvider(t)
	tests := []struct {
		name, path string
		hdr        []string
		status     int
		want       string
	}{
		{"login page offers the provider", "/login", nil, 200, `href="/oidc/Corp/login">Sign in with Corp</a>`},
		{"login page says password login is break-glass", "/login", nil, 200, "for the initial administrator only"},
		{"provider down", "/oidc/Corp/login", nil, http.StatusBadGateway, "promgate cannot reach Corp right now"},
		{"unknown provider", "/oidc/Other/login", nil, http.StatusNotFound, "no identity provider of that name"},
		{"callback not started here", "/oidc/Corp/callback?code=x&state=y", nil, http.StatusBadRequest, "Sign-in expired"},
		{"callback with a forged state", "/oidc/Corp/callback?code=x&state=forged", []string{"Cookie", "promgate_oidc_flow=eyJwIjoiQ29ycCIsInMiOiJyZWFsIiwibiI6Im4iLCJ2IjoidiJ9"}, http.StatusBadRequest, "Sign-in expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, s.URL+tt.path, tt.hdr...)
			if code != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s, want %d with %q", code, body, tt.status, tt.want)
			}
		})
	}
	// A JWT of that issuer cannot be verified while its keys are unknown.
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
	code, _ := get(t, s.URL+"/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up", "Authorization", "Bearer "+jwt)
	if code != http.StatusUnauthorized {
		t.Fatalf("bearer JWT: %d, want 401", code)
	}
}

// TestPasswordLoginBreakGlass: with password login off, only the initial
// OWNER signs in with a password; everyone else is told why, whether or
// not their password is right.
func TestPasswordLoginBreakGlass(t *testing.T) {
	s := startWithDownProvider(t)
	if _, err := s.App.Manage.CreateUser(context.Background(), audit.Actor{Name: "test"}, "local", "local-password-1", access.RoleEditor); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		login, password string
		want            int
	}{
		{"local", "local-password-1", http.StatusForbidden},
		{"local", "wrong", http.StatusForbidden},
		{"nobody", "x", http.StatusForbidden},
		{"admin", promtest.OwnerPassword, http.StatusOK},
		{"ADMIN", "wrong-password", http.StatusUnauthorized},
	} {
		resp, err := http.Post(s.URL+"/api-server/v1/login", "application/json",
			strings.NewReader(`{"login":"`+tt.login+`","password":"`+tt.password+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.login, resp.StatusCode, b, tt.want)
		}
		if tt.want == http.StatusForbidden && !strings.Contains(string(b), "identity provider") {
			t.Errorf("%s: refusal does not say why: %s", tt.login, b)
		}
	}
}
