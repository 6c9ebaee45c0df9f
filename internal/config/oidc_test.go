package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOIDC(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "promgate.yml")
	yml := `listen: ":9000"
oidc:
  disable_password_login: true
  providers:
    - name: Hydra
      issuer_url: http://127.0.0.1:4444
      client_id: promgate
      client_secret_file: ` + secret + `
      groups_claim: ext.groups
      default_role: VIEWER
      allow_sign_up: false
      role_rules:
        - group: metrics-admins
          role: OWNER
      selector_rules:
        - group: payments
          selector: '{team="payments"}'
          data_sources: [1]
`
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := LoadOIDC(p)
	if err != nil {
		t.Fatal(err)
	}
	if !o.DisablePasswordLogin || len(o.Providers) != 1 {
		t.Fatalf("got %+v", o)
	}
	pr := o.Providers[0]
	switch {
	case pr.ClientSecret != "s3cret", pr.Audience != "promgate", pr.LoginClaim != "email",
		pr.GroupsClaim != "ext.groups", pr.ReadScope != "read", pr.WriteScope != "write",
		time.Duration(pr.ClockSkew) != DefaultClockSkew, pr.SignUpAllowed(),
		strings.Join(pr.Scopes, " ") != "openid email profile",
		len(pr.RoleRules) != 1 || pr.RoleRules[0].Group != "metrics-admins" || pr.RoleRules[0].Role != "OWNER",
		len(pr.SelectorRules) != 1 || pr.SelectorRules[0].Selector != `{team="payments"}` || pr.SelectorRules[0].DataSources[0] != 1:
		t.Errorf("provider with defaults = %+v", pr)
	}
	// The flag settings of the same file still apply, the oidc key is not
	// an unknown flag.
	if o, err := LoadOIDC(""); err != nil || len(o.Providers) != 0 {
		t.Errorf("no file: %+v, %v", o, err)
	}
}

// TestLoadOIDCErrors: every mistake is named with its place, all at once.
func TestLoadOIDCErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		yml  string
		want []string
	}{
		{"misspelt key", "oidc:\n  providers:\n    - name: a\n      issuer: http://x\n", []string{"field issuer not found"}},
		{"everything wrong", `oidc:
  providers:
    - name: ""
      issuer_url: "ftp://x"
      scopes: [email]
      clock_skew: 1h
      read_scope: r
      write_scope: r
      client_secret_file: /nonexistent/secret
      role_rules:
        - role: OWNER
        - group: a
          claim: b
          role: VIEWER
      selector_rules:
        - group: g
          value: v
          selector: '{a="b"}'
          data_sources: [0]
    - name: b
      issuer_url: http://idp
      client_id: c
    - name: B
      issuer_url: http://idp
      client_id: c
`, []string{
			"oidc.providers[0].name: required",
			"oidc.providers[0].issuer_url \"ftp://x\"",
			"oidc.providers[0].client_id: required",
			"oidc.providers[0].client_secret_file:",
			"oidc.providers[0].scopes: must include openid",
			"oidc.providers[0].read_scope and write_scope: must differ",
			"oidc.providers[0].clock_skew 1h0m0s",
			"oidc.providers[0].role_rules[0]: say which tokens",
			"oidc.providers[0].role_rules[1]: group and claim both set",
			"oidc.providers[0].selector_rules[0].value: only with claim:",
			"oidc.providers[0].selector_rules[0].data_sources: 0 is not a data source id",
			"oidc.providers[2].name \"B\": already used by oidc.providers[1]",
			"oidc.providers[2].issuer_url \"http://idp\": already used by oidc.providers[1]",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "c.yml")
			if err := os.WriteFile(p, []byte(tt.yml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOIDC(p)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if n := strings.Count(err.Error(), "; "); n < len(tt.want)-1 || strings.Contains(err.Error(), "\n") {
				t.Errorf("want one line, the mistakes separated by \"; \", got:\n%v", err)
			}
		})
	}
}
