package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/hydratest"
	"github.com/promgate/promgate/internal/promtest"
)

// TestOIDCSignInBrowser: a person signs in with a real Hydra in a real
// Chromium: the login page's "Sign in with Hydra" goes through Hydra's
// login and consent (answered by the test app through Hydra's admin API)
// and lands on Explore as a new user whose role comes from the group rule;
// the User Directory shows the provider; the role is re-evaluated at the
// next sign-in; sign-out ends the session and Hydra's; with the provider
// down a new sign-in gets a clear page. Password login is off except for
// the break-glass OWNER.
func TestOIDCSignInBrowser(t *testing.T) {
	h := hydratest.Start(t)
	c := h.CreateWebClient("http://127.0.0.1:1/oidc/Hydra/callback") // redirect set once promgate listens
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte(c.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "promgate.yml")
	yml := `oidc:
  disable_password_login: true
  providers:
    - name: Hydra
      issuer_url: ` + h.Issuer + `
      client_id: ` + c.ID + `
      client_secret_file: ` + secret + `
      scopes: [openid, email, profile, groups]
      role_rules:
        - group: metrics-admins
          role: OWNER
        - group: metrics-editors
          role: EDITOR
      selector_rules:
        - group: metrics-editors
          selector: ''
`
	if err := os.WriteFile(cfgFile, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	oc, err := config.LoadOIDC(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	s := promtest.Start(t, func(c *app.Config) { c.OIDC = oc })
	h.AdminJSON(http.MethodPatch, "/admin/clients/"+c.ID, []map[string]any{
		{"op": "replace", "path": "/redirect_uris", "value": []string{s.URL + "/oidc/Hydra/callback"}},
		{"op": "replace", "path": "/post_logout_redirect_uris", "value": []string{s.URL + "/login"}},
	}, nil)
	h.SetUser("user-ann", map[string]any{"email": "ann@example.com", "groups": []string{"metrics-editors"}})

	b := startBrowser(t, s.URL)
	signIn := func() {
		t.Helper()
		b.open("/login")
		if got := b.text(`#signin-providers a`); got != "Sign in with Hydra" {
			t.Fatalf("login page link %q", got)
		}
		b.do("sign in with Hydra", chromedp.Click(`#signin-providers a`),
			chromedp.WaitReady(chromedp.CSS(`body[data-ready="true"][data-page="explore"]`)))
	}
	signIn()
	if got := b.text(`#user-name`); got != "ann@example.com" {
		t.Fatalf("signed in as %q", got)
	}
	if got := b.text(`#user-role`); got != "EDITOR" {
		t.Fatalf("role %q, want EDITOR from the group rule", got)
	}
	b.screenshot("oidc-signed-in")

	b.open("/settings/users")
	b.waitFor("users listed", `!!document.querySelector('tr[data-login="ann@example.com"] td.provider')`)
	if got := b.text(`tr[data-login="ann@example.com"] td.provider`); got != "Hydra" {
		t.Fatalf("User Directory says %q signs in with, want Hydra", got)
	}
	if got := b.text(`tr[data-login="admin"] td.provider`); got != "password" {
		t.Fatalf("User Directory says admin signs in with %q", got)
	}

	// Sign out: promgate's session ends and the login page offers
	// Hydra's end-session URL.
	b.do("sign out", chromedp.Click(`#logout`), chromedp.WaitReady(chromedp.CSS(`body[data-ready="true"][data-page="login"]`)))
	if !b.eval(`location.pathname === '/login'`) {
		t.Fatalf("after sign-out at %s", value(b, "location", chromedp.Evaluate[string](`location.href`)))
	}
	href := value(b, "end-session link", chromedp.Evaluate[string](`document.querySelector('#end-session-offer').hidden ? '' : document.querySelector('#end-session').href`))
	if !strings.HasPrefix(href, h.Public+"/oauth2/sessions/logout?client_id="+c.ID) {
		t.Fatalf("end-session link %q", href)
	}
	code := value(b, "me after sign-out", chromedp.Evaluate[float64](`(() => { const x = new XMLHttpRequest(); x.open('GET', '/api-server/v1/me', false); x.setRequestHeader('X-Requested-With', 'XMLHttpRequest'); x.send(); return x.status; })()`))
	if code != 401 {
		t.Fatalf("me after sign-out: %v, want 401", code)
	}

	// The role follows the provider's groups at the next sign-in.
	h.SetUser("user-ann", map[string]any{"email": "ann@example.com", "groups": []string{"metrics-admins"}})
	signIn()
	if got := b.text(`#user-role`); got != "OWNER" {
		t.Fatalf("role after the groups changed %q, want OWNER", got)
	}
	u, err := s.App.Store.GetUserBySubject(context.Background(), "Hydra", "user-ann")
	if err != nil || u.Role != "OWNER" || u.Login != "ann@example.com" {
		t.Fatalf("stored user %+v, %v", u, err)
	}

	// Password login: off, except for the break-glass OWNER.
	for _, tt := range []struct {
		login, password string
		want            int
	}{
		{"ann@example.com", "whatever-password", http.StatusForbidden},
		{"admin", promtest.OwnerPassword, http.StatusOK},
	} {
		resp, err := http.Post(s.URL+"/api-server/v1/login", "application/json",
			strings.NewReader(`{"login":"`+tt.login+`","password":"`+tt.password+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("password login of %s: %d, want %d", tt.login, resp.StatusCode, tt.want)
		}
	}

	// A group with no role rule: refused with a page that says so.
	b.do("sign out", chromedp.Click(`#logout`), chromedp.WaitReady(chromedp.CSS(`body[data-ready="true"][data-page="login"]`)))
	h.SetUser("user-bob", map[string]any{"email": "bob@example.com", "groups": []string{"sales"}})
	b.do("sign in without a role", chromedp.Click(`#signin-providers a`), chromedp.WaitVisible(chromedp.CSS(`#signin-error`)))
	if got := b.text(`#signin-error`); !strings.Contains(got, "No role rule of Hydra") {
		t.Fatalf("refusal page says %q", got)
	}

	// Provider down: a new sign-in gets a clear page, not a browser error.
	h.Stop()
	b.open("/login")
	b.do("sign in with Hydra down", chromedp.Click(`#signin-providers a`), chromedp.WaitVisible(chromedp.CSS(`#signin-error`)))
	if got := b.text(`h1`); got != "Sign-in with Hydra is unavailable" {
		t.Fatalf("page title %q", got)
	}
	b.screenshot("oidc-provider-down")
	resp, err := http.Get(s.URL + "/oidc/Hydra/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !bytes.Contains(body, []byte("cannot reach Hydra")) {
		t.Fatalf("provider down: %d %s", resp.StatusCode, body)
	}
}
