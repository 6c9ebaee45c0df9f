package oidc

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/enforce"
)

// ErrNoRule is a valid token that no rule grants anything: 403.
var ErrNoRule = errors.New("no rule of the provider grants this token access")

// MaxClaimValueLen bounds a claim value taken into a selector.
const MaxClaimValueLen = 256

// Claims are a token's verified claims, as decoded from its JSON payload.
type Claims map[string]any

// Lookup returns the claim at a dotted path ("groups", "ext.tenant").
func (c Claims) Lookup(path string) (any, bool) {
	var cur any = map[string]any(c)
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// String returns a claim that is a string.
func (c Claims) String(path string) (string, bool) {
	v, ok := c.Lookup(path)
	s, isString := v.(string)
	return s, ok && isString
}

// Strings returns a claim that is a list of strings, or one string, as a
// list; other values count as absent.
func (c Claims) Strings(path string) []string {
	v, _ := c.Lookup(path)
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Rules are a provider's compiled role and selector rules.
type Rules struct {
	groupsClaim string
	readScope   string
	writeScope  string
	defaultRole access.Role
	roles       []roleRule
	selectors   []selectorRule
}

type matcher struct {
	group string
	claim string
	value string
}

func (m matcher) matches(c Claims, groups []string) bool {
	if m.group != "" {
		return slices.Contains(groups, m.group)
	}
	if m.value == "" {
		_, ok := c.Lookup(m.claim)
		return ok
	}
	return slices.Contains(c.Strings(m.claim), m.value)
}

type roleRule struct {
	matcher
	role access.Role
}

// selectorRule is a selector whose matcher values may come from claims:
// claimOf[i] names the claim that gives matchers[i] its value, "" for a
// fixed one. The matchers are built from the value, never from text.
type selectorRule struct {
	matcher
	matchers    []*labels.Matcher
	claimOf     []string
	policy      *enforce.Policy // when no value comes from a claim
	dataSources []int64
	index       int
}

// placeholder is a claim reference in a selector rule: {{ .tenant }}.
var placeholder = regexp.MustCompile(`\{\{\s*\.([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\s*\}\}`)

// CompileRules checks and compiles a provider's rules; every mistake is
// reported, naming its place in the config file.
func CompileRules(at string, p config.OIDCProvider) (*Rules, error) {
	var errs []error
	r := &Rules{groupsClaim: p.GroupsClaim, readScope: p.ReadScope, writeScope: p.WriteScope}
	if p.DefaultRole != "" {
		role, err := access.ParseRole(p.DefaultRole)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.default_role: %w", at, err))
		}
		r.defaultRole = role
	}
	for i, rr := range p.RoleRules {
		role, err := access.ParseRole(rr.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.role_rules[%d].role: %w", at, i, err))
		}
		r.roles = append(r.roles, roleRule{matcher: matcherOf(rr.ClaimMatch), role: role})
	}
	for i, sr := range p.SelectorRules {
		rule, err := compileSelector(sr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.selector_rules[%d].selector: %w", at, i, err))
			continue
		}
		rule.index = i
		r.selectors = append(r.selectors, rule)
	}
	return r, errors.Join(errs...)
}

func matcherOf(m config.ClaimMatch) matcher {
	return matcher{group: m.Group, claim: m.Claim, value: m.Value}
}

// compileSelector parses the selector with each {{ .claim }} replaced by a
// marker, and accepts a marker only as the whole value of an = matcher, so
// a claim value can never become PromQL text, a label name or a regexp.
func compileSelector(sr config.SelectorRule) (selectorRule, error) {
	rule := selectorRule{matcher: matcherOf(sr.ClaimMatch)}
	if len(sr.DataSources) > 0 { // none listed (or an empty list): every data source
		rule.dataSources = slices.Clone(sr.DataSources)
	}
	text := strings.TrimSpace(sr.Selector)
	if text == "" {
		// An explicit grant without confinement.
		return rule, nil
	}
	var claims []string
	marked := placeholder.ReplaceAllStringFunc(text, func(m string) string {
		claims = append(claims, placeholder.FindStringSubmatch(m)[1])
		return marker(len(claims) - 1)
	})
	if strings.Contains(marked, "{{") || strings.Contains(marked, "}}") {
		return rule, fmt.Errorf("%q: a claim is written {{ .name }}, as the whole value of a = matcher", sr.Selector)
	}
	if !strings.HasPrefix(marked, "{") && len(claims) > 0 {
		return rule, fmt.Errorf("%q: a selector with claims must be written in braces", sr.Selector)
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(marked)
	if err != nil {
		return rule, fmt.Errorf("%q: want a plain series selector: %w", sr.Selector, err)
	}
	rule.matchers = ms
	rule.claimOf = make([]string, len(ms))
	used := 0
	for i, m := range ms {
		if strings.Contains(m.Name, markerPrefix) {
			return rule, fmt.Errorf("%q: a claim cannot be a label name", sr.Selector)
		}
		if !strings.Contains(m.Value, markerPrefix) {
			continue
		}
		n, ok := markerIndex(m.Value)
		if !ok || m.Type != labels.MatchEqual {
			return rule, fmt.Errorf("%q: a claim may only be the whole value of a = matcher, e.g. {tenant=\"{{ .tenant }}\"}", sr.Selector)
		}
		rule.claimOf[i] = claims[n]
		used++
	}
	if used != len(claims) {
		return rule, fmt.Errorf("%q: a claim may only be the whole value of a = matcher", sr.Selector)
	}
	if used == 0 {
		rule.policy, err = enforce.NewPolicy(ms)
		if err != nil {
			return rule, err
		}
		return rule, nil
	}
	// The shape must make a valid policy whatever (non-empty) value the
	// claims bring: try it with one.
	if _, err := rule.build(func(string) (string, bool) { return "x", true }); err != nil {
		return rule, err
	}
	return rule, nil
}

const markerPrefix = "__promgate_claim_"

func marker(i int) string { return markerPrefix + strconv.Itoa(i) + "__" }

func markerIndex(v string) (int, bool) {
	rest, ok := strings.CutPrefix(v, markerPrefix)
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "__")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && marker(n) == v
}

// build makes the rule's policy with claim values from value; ok false
// when a claim is missing or not a valid label value.
func (s selectorRule) build(value func(claim string) (string, bool)) (*enforce.Policy, error) {
	if s.policy != nil || len(s.matchers) == 0 {
		return s.policy, nil
	}
	ms := make([]*labels.Matcher, len(s.matchers))
	for i, m := range s.matchers {
		if s.claimOf[i] == "" {
			ms[i] = m
			continue
		}
		v, ok := value(s.claimOf[i])
		if !ok {
			return nil, errClaimUnusable
		}
		nm, err := labels.NewMatcher(labels.MatchEqual, m.Name, v)
		if err != nil {
			return nil, fmt.Errorf("build matcher: %w", err)
		}
		ms[i] = nm
	}
	return enforce.NewPolicy(ms)
}

var errClaimUnusable = errors.New("claim missing or not a label value")

// claimLabelValue is a claim usable as a label value: a non-empty string
// of valid UTF-8 and bounded length.
func claimLabelValue(c Claims, path string) (string, bool) {
	v, ok := c.String(path)
	if !ok || v == "" || len(v) > MaxClaimValueLen || !utf8.ValidString(v) {
		return "", false
	}
	return v, true
}

// Grant is what a token's claims give its bearer.
type Grant struct {
	Role          access.Role
	Scope         access.Scope
	DataSourceIDs []int64 // nil: all
	Policy        *enforce.Policy
}

// Role is the role the first matching role rule gives, else the default
// role; RoleNone when neither applies.
func (r *Rules) Role(c Claims) access.Role {
	groups := c.Strings(r.groupsClaim)
	for _, rr := range r.roles {
		if rr.matches(c, groups) {
			return rr.role
		}
	}
	return r.defaultRole
}

// Evaluate maps a machine's token to a grant: role from the role rules,
// scope from its scp or scope claim, data sources and label policy from
// the most specific matching selector rule. ErrNoRule when the token gets
// no role, no scope or no selector rule.
//
// Several matching selector rules are not joined with "or": a policy is
// a set of matchers ANDed into every selector of a query, and the union of
// two selectors over different labels cannot be written that way without
// changing what aggregations compute. The most specific rule wins: the one
// whose selector has the most matchers (an unconfined rule has none, so it
// loses to any confined one); among equals, the first listed.
func (r *Rules) Evaluate(c Claims) (Grant, error) {
	var g Grant
	if g.Role = r.Role(c); g.Role == access.RoleNone {
		return g, fmt.Errorf("%w: no role rule matches and there is no default_role", ErrNoRule)
	}
	for _, s := range tokenScopes(c) {
		switch s {
		case r.readScope:
			g.Scope |= access.ScopeRead
		case r.writeScope:
			g.Scope |= access.ScopeWrite
		}
	}
	if g.Scope == 0 {
		return g, fmt.Errorf("%w: the token has neither scope %q nor %q", ErrNoRule, r.readScope, r.writeScope)
	}
	groups := c.Strings(r.groupsClaim)
	var best *selectorRule
	var bestPolicy *enforce.Policy
	for i := range r.selectors {
		s := &r.selectors[i]
		if !s.matches(c, groups) {
			continue
		}
		pol, err := s.build(func(claim string) (string, bool) { return claimLabelValue(c, claim) })
		if err != nil {
			continue // a claim it needs is missing or unusable: not a match
		}
		if best == nil || len(s.matchers) > len(best.matchers) {
			best, bestPolicy = s, pol
		}
	}
	if best == nil {
		return g, fmt.Errorf("%w: no selector rule matches", ErrNoRule)
	}
	g.Policy = bestPolicy
	if best.dataSources != nil {
		g.DataSourceIDs = slices.Clone(best.dataSources)
	}
	return g, nil
}

// tokenScopes reads OAuth 2.0 scopes from scp (a list, as Hydra and Okta
// send) or scope (a space-separated string, RFC 9068).
func tokenScopes(c Claims) []string {
	if v, ok := c.Lookup("scp"); ok {
		if s, isString := v.(string); isString {
			return strings.Fields(s)
		}
		return c.Strings("scp")
	}
	if s, ok := c.String("scope"); ok {
		return strings.Fields(s)
	}
	return nil
}
