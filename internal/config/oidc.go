package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// OIDCKey is the top-level key of the config file that holds the OpenID
// Connect section; every other top-level key is a flag name.
const OIDCKey = "oidc"

// OIDC is the `oidc:` section of the config file: the OpenID Connect
// providers people sign in with and whose JWTs machines send.
type OIDC struct {
	Providers []OIDCProvider `yaml:"providers"`
	// DisablePasswordLogin refuses local password sign-in to everyone but
	// the initial OWNER (the break-glass account).
	DisablePasswordLogin bool `yaml:"disable_password_login"`
}

// OIDCProvider is one identity provider.
type OIDCProvider struct {
	// Name is shown on the login page ("Sign in with <Name>") and recorded
	// on the users it creates; it must stay stable.
	Name      string `yaml:"name"`
	IssuerURL string `yaml:"issuer_url"`
	ClientID  string `yaml:"client_id"`
	// ClientSecretFile holds the client secret (people's sign-in only);
	// its content is read into ClientSecret, never written anywhere.
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecret     string `yaml:"-"`
	// Scopes asked for at sign-in; default openid, email, profile.
	Scopes []string `yaml:"scopes"`
	// Audience a bearer JWT must carry in aud; default ClientID.
	Audience string `yaml:"audience"`
	// LoginClaim names a user created at first sign-in; default email.
	LoginClaim string `yaml:"login_claim"`
	// GroupsClaim holds the caller's groups (a list or a string); default
	// groups. Claim names may be dotted paths into objects (ext.groups).
	GroupsClaim string `yaml:"groups_claim"`
	// ReadScope and WriteScope are the token scopes (in scp or scope) that
	// grant promgate's read and write scope; default read and write.
	ReadScope  string `yaml:"read_scope"`
	WriteScope string `yaml:"write_scope"`
	// ClockSkew is how far exp and nbf may be off; default 30s, at most 5m.
	ClockSkew model.Duration `yaml:"clock_skew"`
	// AllowSignUp creates users at their first sign-in; default true.
	AllowSignUp *bool `yaml:"allow_sign_up"`
	// DefaultRole applies when no role rule matches; empty refuses.
	DefaultRole   string         `yaml:"default_role"`
	RoleRules     []RoleRule     `yaml:"role_rules"`
	SelectorRules []SelectorRule `yaml:"selector_rules"`
}

// ClaimMatch says which tokens a rule applies to: those whose groups
// contain Group, or whose claim Claim is present (and, with Value, equals
// it or, for a list, contains it). Exactly one of Group and Claim is set.
type ClaimMatch struct {
	Group string `yaml:"group"`
	Claim string `yaml:"claim"`
	Value string `yaml:"value"`
}

// RoleRule gives Role to the tokens it matches; the first matching rule in
// the listed order wins.
type RoleRule struct {
	ClaimMatch `yaml:",inline"`
	Role       string `yaml:"role"`
}

// SelectorRule confines the tokens it matches to Selector (which may take
// claim values as {{ .claim }} in place of a matcher's value) and, when
// DataSources is set, to those data source ids.
type SelectorRule struct {
	ClaimMatch  `yaml:",inline"`
	Selector    string  `yaml:"selector"`
	DataSources []int64 `yaml:"data_sources"`
}

// Defaults of OIDCProvider.
const (
	DefaultLoginClaim  = "email"
	DefaultGroupsClaim = "groups"
	DefaultClockSkew   = 30 * time.Second
	MaxClockSkew       = 5 * time.Minute
)

// SignUpAllowed reports AllowSignUp with its default (true).
func (p *OIDCProvider) SignUpAllowed() bool { return p.AllowSignUp == nil || *p.AllowSignUp }

// LoadOIDC reads the `oidc:` section of the YAML file at path (an empty
// path or a file without the section gives an empty OIDC); see OIDCFrom.
func LoadOIDC(path string) (OIDC, error) {
	if path == "" {
		return OIDC{}, nil
	}
	f, err := Load(path)
	if err != nil {
		return OIDC{}, err
	}
	return OIDCFrom(f)
}

// OIDCFrom decodes the `oidc:` section of a config file (unknown keys are
// errors), fills defaults, reads client secrets from their files and checks
// the section's shape. Every mistake found is reported, each naming its
// place (e.g. "oidc.providers[0].issuer_url: ..."), separated by "; ".
func OIDCFrom(f *File) (OIDC, error) {
	var o OIDC
	if f == nil {
		return o, nil
	}
	if _, err := f.Section(OIDCKey, &o); err != nil {
		return OIDC{}, errors.New(strings.ReplaceAll(strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n", ""), "\n", ";"))
	}
	if err := o.check(os.ReadFile); err != nil {
		return OIDC{}, fmt.Errorf("config file %s: %s", f.Path, OneLine(err))
	}
	return o, nil
}

// OneLine joins the lines of an error (errors.Join puts one mistake per
// line) with "; ", for a start-up message on one line.
func OneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// check fills defaults and reports every mistake of the section's shape.
// Roles and selectors are checked where they are compiled (internal/oidc).
func (o *OIDC) check(readFile func(string) ([]byte, error)) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names, issuers := map[string]int{}, map[string]int{}
	for i := range o.Providers {
		p := &o.Providers[i]
		at := fmt.Sprintf("oidc.providers[%d]", i)
		switch {
		case strings.TrimSpace(p.Name) == "":
			bad("%s.name: required (shown as \"Sign in with <name>\")", at)
		case len(p.Name) > 64 || strings.ContainsAny(p.Name, "/:\n\r\t"):
			bad("%s.name %q: at most 64 characters, without / : or control characters", at, p.Name)
		default:
			if j, dup := names[strings.ToLower(p.Name)]; dup {
				bad("%s.name %q: already used by oidc.providers[%d]", at, p.Name, j)
			}
			names[strings.ToLower(p.Name)] = i
		}
		if u, err := url.Parse(p.IssuerURL); p.IssuerURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("%s.issuer_url %q: want the issuer's http(s) URL exactly as in its tokens' iss, e.g. https://idp.example.com/realms/main", at, p.IssuerURL)
		} else {
			if j, dup := issuers[p.IssuerURL]; dup {
				bad("%s.issuer_url %q: already used by oidc.providers[%d]", at, p.IssuerURL, j)
			}
			issuers[p.IssuerURL] = i
		}
		if p.ClientID == "" {
			bad("%s.client_id: required", at)
		}
		if p.ClientSecretFile != "" {
			b, err := readFile(p.ClientSecretFile)
			switch {
			case err != nil:
				bad("%s.client_secret_file: %v", at, err)
			case strings.TrimSpace(string(b)) == "":
				bad("%s.client_secret_file %s: empty", at, p.ClientSecretFile)
			default:
				p.ClientSecret = strings.TrimSpace(string(b))
			}
		}
		if len(p.Scopes) == 0 {
			p.Scopes = []string{"openid", "email", "profile"}
		}
		if !slices.Contains(p.Scopes, "openid") {
			bad("%s.scopes: must include openid", at)
		}
		if p.Audience == "" {
			p.Audience = p.ClientID
		}
		if p.LoginClaim == "" {
			p.LoginClaim = DefaultLoginClaim
		}
		if p.GroupsClaim == "" {
			p.GroupsClaim = DefaultGroupsClaim
		}
		if p.ReadScope == "" {
			p.ReadScope = "read"
		}
		if p.WriteScope == "" {
			p.WriteScope = "write"
		}
		if p.ReadScope == p.WriteScope {
			bad("%s.read_scope and write_scope: must differ, both are %q", at, p.ReadScope)
		}
		switch skew := time.Duration(p.ClockSkew); {
		case skew == 0:
			p.ClockSkew = model.Duration(DefaultClockSkew)
		case skew < 0 || skew > MaxClockSkew:
			bad("%s.clock_skew %s: want between 0s and %s", at, skew, MaxClockSkew)
		}
		for j, r := range p.RoleRules {
			checkMatch(bad, fmt.Sprintf("%s.role_rules[%d]", at, j), r.ClaimMatch)
			if r.Role == "" {
				bad("%s.role_rules[%d].role: required", at, j)
			}
		}
		for j, r := range p.SelectorRules {
			rat := fmt.Sprintf("%s.selector_rules[%d]", at, j)
			checkMatch(bad, rat, r.ClaimMatch)
			for _, id := range r.DataSources {
				if id < 1 {
					bad("%s.data_sources: %d is not a data source id", rat, id)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func checkMatch(bad func(string, ...any), at string, m ClaimMatch) {
	switch {
	case m.Group == "" && m.Claim == "":
		bad("%s: say which tokens it applies to with group: or claim:", at)
	case m.Group != "" && m.Claim != "":
		bad("%s: group and claim both set; use one rule for each", at)
	case m.Group != "" && m.Value != "":
		bad("%s.value: only with claim:", at)
	}
}
