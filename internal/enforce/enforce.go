// Package enforce confines PromQL queries and series matchers to a label
// policy, so that a credential carrying a selector such as
// {asserts_env="prod"} can never read a series outside it.
//
// The invariant is: every series the engine (or a remote backend) reads from
// storage matches all policy matchers. PromQL reads series only through
// vector selectors (matrix selectors wrap a vector selector, and subqueries,
// functions, aggregations and binary operators only transform what selectors
// returned), so ANDing the policy matchers into every VectorSelector is
// sufficient. The one exception in v0.316.0 is the experimental info()
// function, which looks up *_info series that no selector in the query names;
// it is refused (see ErrRefused) even when experimental functions are on.
//
// Functions that change labels (label_replace, label_join, aggregations with
// by/without, count_values, on()/group_left joins) act only on series that
// were already read through a confined selector. They can forge a label value
// such as asserts_env="dev" in the output, but that output is built from the
// caller's own data and the query text; they cannot make storage return
// another series. Likewise absent(up{asserts_env="dev"}) answers 1 ("absent
// as far as you can see") whether or not dev data exists, so it leaks nothing.
//
// Callers must evaluate the rewritten text with the same parser.Options the
// Policy was built with (ParsePolicyWithOptions); the default is the engine
// default, experimental functions off. Prometheus' /query_exemplars takes a
// PromQL "query" (not match[]), so it goes through RewriteQuery.
package enforce

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// ErrRefused is wrapped by errors for queries that use a construct which
// cannot be confined to the policy (currently info()). Callers should answer
// it as a client error (bad_data, 400).
var ErrRefused = errors.New("not allowed with a label policy")

// ErrInvalidPolicy is wrapped by every error ParsePolicy returns.
var ErrInvalidPolicy = errors.New("invalid label policy")

// ParseError reports a query or match[] selector that the PromQL parser
// rejects. Callers detect it with errors.As and answer bad_data 400. Its
// message only describes the caller's own input, never the policy.
type ParseError struct {
	Input string // the text that failed to parse
	Err   error  // the parser's error
}

func (e *ParseError) Error() string { return e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }

// readsImplicitSeries reports functions that select series the query text
// does not name in a selector, so appending matchers cannot confine them.
// info(v, {sel}) fetches target_info (or *_info) series by the instance and
// job of v's series; those info series may belong to another tenant, and
// adding the policy to {sel} would change which labels info() attaches, so
// it is refused rather than rewritten.
func readsImplicitSeries(fn string) bool {
	return fn == "info"
}

// Policy confines queries to series matching a selector such as
// {asserts_env="prod", team=~"payments|risk"}. A Policy is immutable and safe
// for concurrent use.
type Policy struct {
	matchers []*labels.Matcher
	hasName  bool // some matcher is on __name__
	text     string
	parser   parser.Parser
	opts     parser.Options
}

// ParsePolicy parses a series selector (with or without a metric name; braces
// required) with the default parser options. Empty string -> (nil, nil): no
// policy.
func ParsePolicy(selector string) (*Policy, error) {
	return ParsePolicyWithOptions(selector, parser.Options{})
}

// ParsePolicyWithOptions is ParsePolicy with the parser options the query
// engine uses, so RewriteQuery accepts exactly the language the engine does.
func ParsePolicyWithOptions(selector string, opts parser.Options) (*Policy, error) {
	s := strings.TrimSpace(selector)
	if s == "" {
		return nil, nil
	}
	p := parser.NewParser(opts)
	// ParseMetricSelector accepts only a plain selector: no functions,
	// operators, ranges, offset or @.
	ms, err := p.ParseMetricSelector(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: want a plain series selector: %w", ErrInvalidPolicy, selector, err)
	}
	// Braces make the intent explicit: a bare "up" reads like a query.
	if !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("%w %q: want a series selector in braces, e.g. {asserts_env=\"prod\"}", ErrInvalidPolicy, selector)
	}
	return newPolicy(ms, p, opts, selector)
}

// NewPolicy builds a policy from matchers made by the caller (e.g. a
// selector whose value comes from a token's claim: the value is a matcher's
// value, never text for the parser). The same rules as ParsePolicy apply.
// The matchers must not be modified afterwards.
func NewPolicy(ms []*labels.Matcher) (*Policy, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	opts := parser.Options{}
	return newPolicy(slices.Clone(ms), parser.NewParser(opts), opts, formatSelector(ms))
}

func newPolicy(ms []*labels.Matcher, p parser.Parser, opts parser.Options, selector string) (*Policy, error) {
	// Same rule as Prometheus' own selectors: one matcher must reject the
	// empty value, otherwise the policy matches (almost) every series, e.g.
	// {}, {env=~".*"}, {env!="dev"}. It also guarantees that the policy on
	// its own is a valid match[] for RewriteMatchers.
	if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return !m.Matches("") }) {
		return nil, fmt.Errorf("%w %q: it must contain a matcher that does not match the empty string, e.g. env=\"prod\" or env=~\".+\"", ErrInvalidPolicy, selector)
	}
	pol := &Policy{
		matchers: ms,
		hasName:  slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m.Name == labels.MetricName }),
		parser:   p,
		opts:     opts,
	}
	pol.text = formatSelector(ms)
	return pol, nil
}

// String returns the canonical selector text, or "" for a nil policy.
func (p *Policy) String() string {
	if p == nil {
		return ""
	}
	return p.text
}

// Matchers returns the policy matchers. The slice is a copy; the matchers
// must not be modified.
func (p *Policy) Matchers() []*labels.Matcher {
	if p == nil {
		return nil
	}
	return slices.Clone(p.matchers)
}

// ParserOptions returns the parser options the policy parses queries with.
func (p *Policy) ParserOptions() parser.Options {
	if p == nil {
		return parser.Options{}
	}
	return p.opts
}

// Allows reports whether a series (e.g. from a remote_write body) lies
// inside the policy. A nil policy allows everything.
func (p *Policy) Allows(lbls labels.Labels) bool {
	if p == nil {
		return true
	}
	for _, m := range p.matchers {
		if !m.Matches(lbls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// RewriteQuery parses q, ANDs the policy matchers into every vector and
// matrix selector and returns the re-serialised expression. A nil policy
// returns q unchanged once it parses with the default options (use ParseQuery
// to validate with other options). Syntax errors are *ParseError; queries that
// cannot be confined wrap ErrRefused.
func (p *Policy) RewriteQuery(q string) (string, error) {
	if p == nil {
		if _, err := ParseQuery(q, parser.Options{}); err != nil {
			return "", err
		}
		return q, nil
	}
	expr, err := p.parse(q)
	if err != nil {
		return "", err
	}
	if err := p.RewriteExpr(expr); err != nil {
		return "", err
	}
	return expr.String(), nil
}

// ParseQuery parses q with the given options, wrapping failures in *ParseError.
func ParseQuery(q string, opts parser.Options) (parser.Expr, error) {
	return parseWith(parser.NewParser(opts), q)
}

func (p *Policy) parse(q string) (parser.Expr, error) {
	return parseWith(p.parser, q)
}

func parseWith(p parser.Parser, q string) (expr parser.Expr, err error) {
	// The parser recovers its own panics, but a panic here must never take
	// down the server or, worse, skip enforcement: turn it into an error.
	defer func() {
		if r := recover(); r != nil {
			expr, err = nil, &ParseError{Input: q, Err: fmt.Errorf("unexpected parser failure: %v", r)}
		}
	}()
	expr, err = p.ParseExpr(q)
	if err != nil {
		return nil, &ParseError{Input: q, Err: err}
	}
	return expr, nil
}

// RewriteExpr confines a parsed expression in place: every VectorSelector
// (including those inside matrix selectors, subqueries, calls and
// aggregation parameters) gets the policy matchers appended. If expr uses a
// refused construct or a node type this package does not know, it returns
// an error and leaves expr unchanged. A nil policy leaves expr unchanged.
func (p *Policy) RewriteExpr(expr parser.Expr) (err error) {
	if p == nil {
		return nil
	}
	defer func() {
		// Fail closed: a malformed tree must never come back half-confined
		// without an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("confining query: unexpected failure: %v", r)
		}
	}()
	// Collect first, rewrite after, so a refused query is never half
	// rewritten when a caller ignores the error.
	var buf [16]*parser.VectorSelector
	sels, err := collectSelectors(expr, buf[:0])
	if err != nil {
		return err
	}
	for _, vs := range sels {
		p.confine(vs)
	}
	return nil
}

// collectSelectors walks every node type explicitly instead of using
// parser.Inspect so that a node type added in a future Prometheus version
// is an error (fail closed) rather than a subtree silently left unconfined.
func collectSelectors(e parser.Expr, sels []*parser.VectorSelector) ([]*parser.VectorSelector, error) {
	var err error
	switch n := e.(type) {
	case nil:
	case *parser.VectorSelector:
		sels = append(sels, n)
	case *parser.MatrixSelector:
		vs, ok := n.VectorSelector.(*parser.VectorSelector)
		if !ok {
			return nil, fmt.Errorf("confining query: matrix selector over %T", n.VectorSelector)
		}
		sels = append(sels, vs)
	case *parser.Call:
		if n.Func == nil {
			return nil, errors.New("confining query: call without a function")
		}
		if readsImplicitSeries(n.Func.Name) {
			return nil, fmt.Errorf("function %s() reads series no selector names: %w", n.Func.Name, ErrRefused)
		}
		for _, a := range n.Args {
			if sels, err = collectSelectors(a, sels); err != nil {
				return nil, err
			}
		}
	case *parser.AggregateExpr:
		if sels, err = collectSelectors(n.Expr, sels); err != nil {
			return nil, err
		}
		return collectSelectors(n.Param, sels)
	case *parser.BinaryExpr:
		if sels, err = collectSelectors(n.LHS, sels); err != nil {
			return nil, err
		}
		return collectSelectors(n.RHS, sels)
	case *parser.SubqueryExpr:
		return collectSelectors(n.Expr, sels)
	case *parser.ParenExpr:
		return collectSelectors(n.Expr, sels)
	case *parser.UnaryExpr:
		return collectSelectors(n.Expr, sels)
	case *parser.StepInvariantExpr:
		return collectSelectors(n.Expr, sels)
	case *parser.DurationExpr:
		// Duration arithmetic holds numbers and step()-like calls, never
		// selectors; walked anyway so a future change cannot slip past.
		if sels, err = collectSelectors(n.LHS, sels); err != nil {
			return nil, err
		}
		return collectSelectors(n.RHS, sels)
	case *parser.NumberLiteral, *parser.StringLiteral:
	default:
		return nil, fmt.Errorf("confining query: unsupported expression type %T", e)
	}
	return sels, nil
}

// confine appends the policy matchers a selector does not already have.
func (p *Policy) confine(vs *parser.VectorSelector) {
	ms := slices.Grow(slices.Clip(vs.LabelMatchers), len(p.matchers))
	for _, pm := range p.matchers {
		// Skipping an identical matcher keeps semantics and keeps absent()
		// output labels (absent drops a label given twice).
		if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
			return m.Name == pm.Name && m.Type == pm.Type && m.Value == pm.Value
		}) {
			ms = append(ms, pm)
		}
	}
	vs.LabelMatchers = ms
	if p.hasName {
		// "foo{__name__="bar"}" does not parse ("metric name must not be
		// set twice"); printing the name inside the braces does.
		vs.Name = ""
	}
	// Unexpanded series cached on the node would bypass the new matchers.
	vs.UnexpandedSeriesSet = nil
	vs.Series = nil
}

// RewriteMatchers is for /series, /labels, /label/<name>/values and
// /query_exemplars: each match[] selector gets the policy matchers ANDed in.
// When matches is empty it returns exactly one selector: the policy itself.
// A nil policy returns matches unchanged after checking that they parse.
func (p *Policy) RewriteMatchers(matches []string) ([]string, error) {
	pp := parser.NewParser(parser.Options{})
	if p != nil {
		pp = p.parser
		if len(matches) == 0 {
			return []string{p.text}, nil
		}
	}
	out := make([]string, 0, len(matches))
	for i, m := range matches {
		ms, err := parseSelector(pp, m)
		if err != nil {
			return nil, fmt.Errorf("match[] #%d: %w", i+1, err)
		}
		if p == nil {
			out = append(out, m)
			continue
		}
		vs := &parser.VectorSelector{LabelMatchers: ms}
		p.confine(vs)
		out = append(out, formatSelector(vs.LabelMatchers))
	}
	return out, nil
}

func parseSelector(p parser.Parser, s string) (ms []*labels.Matcher, err error) {
	defer func() {
		if r := recover(); r != nil {
			ms, err = nil, &ParseError{Input: s, Err: fmt.Errorf("unexpected parser failure: %v", r)}
		}
	}()
	ms, err = p.ParseMetricSelector(s)
	if err != nil {
		return nil, &ParseError{Input: s, Err: err}
	}
	return ms, nil
}

// formatSelector prints matchers as one brace selector, __name__ included,
// using the parser's own printer so quoting of UTF-8 names is right.
func formatSelector(ms []*labels.Matcher) string {
	s := (&parser.VectorSelector{LabelMatchers: ms}).String()
	if s == "" {
		return "{}"
	}
	return s
}
