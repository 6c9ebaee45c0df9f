package oidc

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/config"
)

func testProvider() config.OIDCProvider {
	return config.OIDCProvider{
		Name: "Hydra", IssuerURL: "http://127.0.0.1:4444", ClientID: "promgate",
		GroupsClaim: "groups", ReadScope: "read", WriteScope: "write",
		DefaultRole: "VIEWER",
		RoleRules: []config.RoleRule{
			{ClaimMatch: config.ClaimMatch{Group: "metrics-admins"}, Role: "OWNER"},
			{ClaimMatch: config.ClaimMatch{Group: "metrics-editors"}, Role: "EDITOR"},
			{ClaimMatch: config.ClaimMatch{Claim: "department", Value: "sre"}, Role: "EDITOR"},
		},
		SelectorRules: []config.SelectorRule{
			{ClaimMatch: config.ClaimMatch{Group: "payments"}, Selector: `{team="payments"}`, DataSources: []int64{1}},
			{ClaimMatch: config.ClaimMatch{Claim: "tenant"}, Selector: `{tenant="{{ .tenant }}", env="prod"}`},
			{ClaimMatch: config.ClaimMatch{Group: "metrics-admins"}, Selector: ""},
			{ClaimMatch: config.ClaimMatch{Claim: "ext.team"}, Selector: `{team="{{ .ext.team }}"}`},
		},
	}
}

func TestEvaluate(t *testing.T) {
	rules, err := CompileRules("oidc.providers[0]", testProvider())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		claims    Claims
		wantErr   bool
		role      access.Role
		scope     access.Scope
		selector  string
		dataSrcs  []int64
		unconfine bool
	}{
		{name: "group rule", claims: Claims{"groups": []any{"payments"}, "scp": []any{"read"}},
			role: access.RoleViewer, scope: access.ScopeRead, selector: `{team="payments"}`, dataSrcs: []int64{1}},
		{name: "groups as one string", claims: Claims{"groups": "payments", "scope": "read write"},
			role: access.RoleViewer, scope: access.ScopeRead | access.ScopeWrite, selector: `{team="payments"}`, dataSrcs: []int64{1}},
		{name: "templated claim", claims: Claims{"tenant": "acme", "scp": []any{"read"}},
			role: access.RoleViewer, scope: access.ScopeRead, selector: `{env="prod",tenant="acme"}`},
		{name: "claim value is a value, never PromQL", claims: Claims{"tenant": `x"} or {env=~".*`, "scp": []any{"read"}},
			role: access.RoleViewer, scope: access.ScopeRead, selector: `{env="prod",tenant="x\"} or {env=~\".*"}`},
		{name: "dotted claim path", claims: Claims{"ext": map[string]any{"team": "risk"}, "scp": "read"},
			role: access.RoleViewer, scope: access.ScopeRead, selector: `{team="risk"}`},
		{name: "most matchers wins over a group rule", claims: Claims{"groups": []any{"payments"}, "tenant": "acme", "scp": []any{"read"}},
			role: access.RoleViewer, scope: access.ScopeRead, selector: `{env="prod",tenant="acme"}`},
		{name: "confined beats unconfined", claims: Claims{"groups": []any{"metrics-admins", "payments"}, "scp": []any{"read", "write"}},
			role: access.RoleOwner, scope: access.ScopeRead | access.ScopeWrite, selector: `{team="payments"}`, dataSrcs: []int64{1}},
		{name: "unconfined rule", claims: Claims{"groups": []any{"metrics-admins"}, "scp": []any{"read"}},
			role: access.RoleOwner, scope: access.ScopeRead, unconfine: true},
		{name: "role by claim value", claims: Claims{"department": "sre", "groups": []any{"payments"}, "scp": []any{"write"}},
			role: access.RoleEditor, scope: access.ScopeWrite, selector: `{team="payments"}`, dataSrcs: []int64{1}},
		{name: "first role rule wins", claims: Claims{"groups": []any{"metrics-editors", "metrics-admins", "payments"}, "scp": []any{"read"}},
			role: access.RoleOwner, scope: access.ScopeRead, selector: `{team="payments"}`, dataSrcs: []int64{1}},
		{name: "empty claim value does not match", claims: Claims{"tenant": "", "scp": []any{"read"}}, wantErr: true},
		{name: "non-string claim does not match", claims: Claims{"tenant": 7.0, "scp": []any{"read"}}, wantErr: true},
		{name: "over-long claim does not match", claims: Claims{"tenant": strings.Repeat("a", MaxClaimValueLen+1), "scp": []any{"read"}}, wantErr: true},
		{name: "invalid UTF-8 does not match", claims: Claims{"tenant": "\xff", "scp": []any{"read"}}, wantErr: true},
		{name: "no selector rule", claims: Claims{"groups": []any{"other"}, "scp": []any{"read"}}, wantErr: true},
		{name: "no scope", claims: Claims{"groups": []any{"payments"}, "scp": []any{"openid"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := rules.Evaluate(tt.claims)
			if tt.wantErr {
				if !errors.Is(err, ErrNoRule) {
					t.Fatalf("Evaluate = %+v, %v; want ErrNoRule", g, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Role != tt.role || g.Scope != tt.scope || !slices.Equal(g.DataSourceIDs, tt.dataSrcs) {
				t.Errorf("grant = role %s scope %s data sources %v; want %s %s %v", g.Role, g.Scope, g.DataSourceIDs, tt.role, tt.scope, tt.dataSrcs)
			}
			if tt.unconfine {
				if g.Policy != nil {
					t.Errorf("policy %s, want none", g.Policy)
				}
				return
			}
			if got := g.Policy.String(); got != tt.selector {
				t.Errorf("selector %s, want %s", got, tt.selector)
			}
		})
	}
}

// TestTemplatedClaimIsOneMatcher: the value of a hostile claim becomes the
// value of one equality matcher and confines a query like any other.
func TestTemplatedClaimIsOneMatcher(t *testing.T) {
	rules, err := CompileRules("p", testProvider())
	if err != nil {
		t.Fatal(err)
	}
	evil := `acme"} or vector(1) or {__name__=~".+`
	g, err := rules.Evaluate(Claims{"tenant": evil, "scp": []any{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	ms := g.Policy.Matchers()
	if len(ms) != 2 || ms[0].Type != labels.MatchEqual || ms[0].Name != "tenant" || ms[0].Value != evil {
		t.Fatalf("matchers %v, want tenant=<the claim> and env", ms)
	}
	q, err := g.Policy.RewriteQuery(`sum(up)`)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Policy.Allows(labels.FromStrings("tenant", evil, "env", "prod")) || g.Policy.Allows(labels.FromStrings("tenant", "acme", "env", "prod")) {
		t.Errorf("policy allows the wrong series (rewritten %s)", q)
	}
}

func TestCompileRulesErrors(t *testing.T) {
	tests := []struct {
		name, selector, want string
		role                 string
	}{
		{"claim in a regexp", `{tenant=~"{{ .tenant }}"}`, "whole value of a = matcher", "VIEWER"},
		{"claim in part of a value", `{tenant="t-{{ .tenant }}"}`, "whole value of a = matcher", "VIEWER"},
		{"claim as a label name", `{ {{ .tenant }}="x"}`, "", "VIEWER"},
		{"claim in !=", `{tenant!="{{ .tenant }}"}`, "whole value of a = matcher", "VIEWER"},
		{"broken template", `{tenant="{{ tenant }}"}`, "{{ .name }}", "VIEWER"},
		{"not a selector", `sum(up)`, "plain series selector", "VIEWER"},
		{"matches everything", `{env=~".*"}`, "does not match the empty string", "VIEWER"},
		{"bad role", `{env="prod"}`, "unknown role", "ADMIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testProvider()
			p.SelectorRules = []config.SelectorRule{{ClaimMatch: config.ClaimMatch{Claim: "tenant"}, Selector: tt.selector}}
			p.RoleRules = []config.RoleRule{{ClaimMatch: config.ClaimMatch{Group: "g"}, Role: tt.role}}
			_, err := CompileRules("oidc.providers[3]", p)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.HasPrefix(err.Error(), "oidc.providers[3].") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want it to name the place and say %q", err, tt.want)
			}
		})
	}
}

func TestCheckTimes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	skew := 30 * time.Second
	at := func(d time.Duration) float64 { return float64(now.Add(d).Unix()) }
	tests := []struct {
		name string
		c    Claims
		ok   bool
	}{
		{"valid", Claims{"exp": at(time.Minute)}, true},
		{"expired within skew", Claims{"exp": at(-10 * time.Second)}, true},
		{"expired beyond skew", Claims{"exp": at(-31 * time.Second)}, false},
		{"no exp", Claims{}, false},
		{"exp not a number", Claims{"exp": "soon"}, false},
		{"nbf within skew", Claims{"exp": at(time.Minute), "nbf": at(20 * time.Second)}, true},
		{"nbf beyond skew", Claims{"exp": at(time.Hour), "nbf": at(time.Minute)}, false},
		{"nbf not a number", Claims{"exp": at(time.Hour), "nbf": "x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkTimes(tt.c, now, skew)
			if (err == nil) != tt.ok {
				t.Errorf("checkTimes: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
