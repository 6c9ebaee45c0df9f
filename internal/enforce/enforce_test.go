package enforce

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

const testPolicy = `{asserts_env="prod", team=~"payments|risk"}`

func mustPolicy(t testing.TB, sel string, opts parser.Options) *Policy {
	t.Helper()
	p, err := ParsePolicyWithOptions(sel, opts)
	if err != nil {
		t.Fatalf("ParsePolicy(%q): %v", sel, err)
	}
	if p == nil {
		t.Fatalf("ParsePolicy(%q) = nil", sel)
	}
	return p
}

// checkConfined parses rewritten with the policy's options and reports
// every vector selector that lacks one of the policy matchers.
func checkConfined(p *Policy, rewritten string) error {
	expr, err := parser.NewParser(p.ParserOptions()).ParseExpr(rewritten)
	if err != nil {
		return fmt.Errorf("rewritten query does not parse: %w", err)
	}
	var problems []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for _, pm := range p.Matchers() {
			if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
				return m.Name == pm.Name && m.Type == pm.Type && m.Value == pm.Value
			}) {
				problems = append(problems, fmt.Sprintf("%s lacks %s", vs, pm))
			}
		}
		return nil
	})
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical text; "" with wantErr false means nil policy
		wantErr string
	}{
		{in: "", want: ""},
		{in: "   ", want: ""},
		{in: `{asserts_env="prod"}`, want: `{asserts_env="prod"}`},
		{in: ` { team=~"payments|risk" , asserts_env="prod" } `, want: `{asserts_env="prod",team=~"payments|risk"}`},
		{in: `up{asserts_env="prod"}`, want: `{__name__="up",asserts_env="prod"}`},
		{in: `{__name__="up"}`, want: `{__name__="up"}`},
		{in: `{"my.label"="x"}`, want: `{"my.label"="x"}`},
		{in: `{env=~".+"}`, want: `{env=~".+"}`},
		{in: `{env="prod", team!="x", region!~"eu.*"}`, want: `{env="prod",region!~"eu.*",team!="x"}`},
		// Would match everything or almost everything.
		{in: `{}`, wantErr: "does not match the empty string"},
		{in: `{env=~".*"}`, wantErr: "does not match the empty string"},
		{in: `{env!="dev"}`, wantErr: "does not match the empty string"},
		{in: `{env!~"dev"}`, wantErr: "does not match the empty string"},
		{in: `{env=""}`, wantErr: "does not match the empty string"},
		{in: `{env=~"prod|"}`, wantErr: "does not match the empty string"},
		// Not a plain selector.
		{in: `up`, wantErr: "in braces"},
		{in: `up{env="prod"} offset 5m`, wantErr: "plain series selector"},
		{in: `up{env="prod"} @ 100`, wantErr: "plain series selector"},
		{in: `up{env="prod"}[5m]`, wantErr: "plain series selector"},
		{in: `{env="prod"} or {env="dev"}`, wantErr: "plain series selector"},
		{in: `sum({env="prod"})`, wantErr: "plain series selector"},
		{in: `{env="prod"`, wantErr: "plain series selector"},
		{in: `{env=~"("}`, wantErr: "plain series selector"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePolicy(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("got policy %q, want error containing %q", p, tc.wantErr)
				}
				if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %q, want ErrInvalidPolicy containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := p.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			if tc.want == "" {
				if p != nil {
					t.Fatalf("want nil policy")
				}
				return
			}
			// The canonical text must parse back to the same policy.
			again, err := ParsePolicy(p.String())
			if err != nil || again.String() != p.String() {
				t.Fatalf("canonical text %q does not round-trip: %v %q", p, err, again)
			}
		})
	}
}

func TestRewriteQuery(t *testing.T) {
	const pm = `asserts_env="prod",team=~"payments|risk"`
	tests := []struct {
		name, in, want string
	}{
		{"plain", `up`, `up{` + pm + `}`},
		{"own matchers kept", `up{job="api"}`, `up{asserts_env="prod",job="api",team=~"payments|risk"}`},
		{"contradicting matcher ANDed", `up{asserts_env="dev"}`, `up{asserts_env="dev",` + pm + `}`},
		{"identical matcher not duplicated", `up{asserts_env="prod"}`, `up{` + pm + `}`},
		{"name regex everything", `{__name__=~".+"}`, `{__name__=~".+",` + pm + `}`},
		{"name regex with empty", `{__name__=~".*", job="x"}`, `{__name__=~".*",asserts_env="prod",job="x",team=~"payments|risk"}`},
		{"regex dot star", `{asserts_env=~".*", __name__=~".+"}`, `{__name__=~".+",asserts_env="prod",asserts_env=~".*",team=~"payments|risk"}`},
		{"negative regex", `{asserts_env!~"prod", __name__="up"}`, `{__name__="up",asserts_env!~"prod",` + pm + `}`},
		{"empty string matcher", `up{asserts_env=""}`, `up{asserts_env="",` + pm + `}`},
		{"rate range", `rate(http_requests_total[5m])`, `rate(http_requests_total{` + pm + `}[5m])`},
		{"sum by", `sum by (job) (rate(x[1m]))`, `sum by (job) (rate(x{` + pm + `}[1m]))`},
		{"count by policy label", `count by (asserts_env) ({__name__=~".+"})`, `count by (asserts_env) ({__name__=~".+",` + pm + `})`},
		{"histogram_quantile", `histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))`, `histogram_quantile(0.9, sum by (le) (rate(h_bucket{` + pm + `}[5m])))`},
		{"or", `up or {asserts_env="dev"}`, `up{` + pm + `} or {asserts_env="dev",` + pm + `}`},
		{"unless", `up unless on() down`, `up{` + pm + `} unless on () down{` + pm + `}`},
		{"on group_left", `a * on(instance) group_left(x) b`, `a{` + pm + `} * on (instance) group_left (x) b{` + pm + `}`},
		{"bool", `a == bool on() b`, `a{` + pm + `} == bool on () b{` + pm + `}`},
		{"subquery", `max_over_time(rate(x[1m])[30m:1m])`, `max_over_time(rate(x{` + pm + `}[1m])[30m:1m])`},
		{"subquery of everything", `sum_over_time({__name__=~".+"}[1h:5m] offset 1h)`, `sum_over_time({__name__=~".+",` + pm + `}[1h:5m] offset 1h)`},
		{"at end", `up @ end()`, `up{` + pm + `} @ end()`},
		{"at start range", `rate(up[5m] @ start())`, `rate(up{` + pm + `}[5m] @ start())`},
		{"at timestamp offset", `up @ 1700000000 offset 5m`, `up{` + pm + `} @ 1700000000.000 offset 5m`},
		{"negative offset", `up offset -5m`, `up{` + pm + `} offset -5m`},
		{"subquery at", `max_over_time(up[10m:1m] @ end())`, `max_over_time(up{` + pm + `}[10m:1m] @ end())`},
		{"absent", `absent(up{asserts_env="dev"})`, `absent(up{asserts_env="dev",` + pm + `})`},
		{"absent_over_time", `absent_over_time(nope[1h])`, `absent_over_time(nope{` + pm + `}[1h])`},
		{"label_replace forging", `label_replace(up, "asserts_env", "dev", "", "")`, `label_replace(up{` + pm + `}, "asserts_env", "dev", "", "")`},
		{"label_join", `label_join(up, "asserts_env", ",", "job")`, `label_join(up{` + pm + `}, "asserts_env", ",", "job")`},
		{"vector", `vector(1)`, `vector(1)`},
		{"scalar only", `1 + 2 * time()`, `1 + 2 * time()`},
		{"aggregation param", `topk(scalar(count(secret)), up)`, `topk(scalar(count(secret{` + pm + `})), up{` + pm + `})`},
		{"quantile param", `quantile(scalar(q), up)`, `quantile(scalar(q{` + pm + `}), up{` + pm + `})`},
		{"count_values", `count_values("v", up)`, `count_values("v", up{` + pm + `})`},
		{"parens unary", `-(up)`, `-(up{` + pm + `})`},
		{"utf8 metric", `{"my.metric"}`, `{__name__="my.metric",` + pm + `}`},
		{"utf8 metric and label", `{"my.metric", "my.label"="x"}`, `{"my.label"="x",__name__="my.metric",` + pm + `}`},
		{"utf8 grouping", `sum by ("my.label") (x)`, `sum by ("my.label") (x{` + pm + `})`},
		{"quoted policy label", `{"asserts_env"="dev", __name__="up"}`, `{__name__="up",asserts_env="dev",` + pm + `}`},
		{"timestamp", `timestamp(secret)`, `timestamp(secret{` + pm + `})`},
		{"sort_desc", `sort_desc(up)`, `sort_desc(up{` + pm + `})`},
	}
	p := mustPolicy(t, testPolicy, parser.Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.RewriteQuery(tc.in)
			if err != nil {
				t.Fatalf("RewriteQuery(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("RewriteQuery(%q)\n got %s\nwant %s", tc.in, got, tc.want)
			}
			if err := checkConfined(p, got); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRewriteQueryPolicyShapes(t *testing.T) {
	tests := []struct {
		name, policy, in, want string
	}{
		{"policy with metric name", `up{env="prod"}`, `foo`, `{__name__="foo",__name__="up",env="prod"}`},
		{"policy with metric name, same metric", `up{env="prod"}`, `rate(up[5m])`, `rate({__name__="up",env="prod"}[5m])`},
		{"policy with utf8 label", `{"my.env"="prod"}`, `up`, `up{"my.env"="prod"}`},
		{"policy with negative matcher", `{env="prod", team!="x"}`, `up{team="x"}`, `up{env="prod",team!="x",team="x"}`},
		{"policy with escapes", `{env="p\"r\\od\n"}`, `up`, `up{env="p\"r\\od\n"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, tc.policy, parser.Options{})
			got, err := p.RewriteQuery(tc.in)
			if err != nil {
				t.Fatalf("RewriteQuery(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if err := checkConfined(p, got); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRewriteQueryErrors(t *testing.T) {
	experimental := parser.Options{EnableExperimentalFunctions: true}
	tests := []struct {
		name      string
		opts      parser.Options
		in        string
		wantParse bool // *ParseError
		wantRef   bool // ErrRefused
	}{
		{name: "syntax", in: `up{`, wantParse: true},
		{name: "empty", in: ``, wantParse: true},
		{name: "empty selector", in: `{}`, wantParse: true},
		{name: "only empty-matching", in: `{asserts_env=~".*"}`, wantParse: true},
		{name: "unknown function", in: `nope(up)`, wantParse: true},
		{name: "info off by default", in: `info(up)`, wantParse: true},
		{name: "info refused", opts: experimental, in: `info(up)`, wantRef: true},
		{name: "info with selector refused", opts: experimental, in: `info(rate(x[5m]), {__name__="build_info"})`, wantRef: true},
		{name: "info nested refused", opts: experimental, in: `sum(info(up)) or vector(1)`, wantRef: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, testPolicy, tc.opts)
			got, err := p.RewriteQuery(tc.in)
			if err == nil {
				t.Fatalf("RewriteQuery(%q) = %q, want error", tc.in, got)
			}
			var pe *ParseError
			if isParse := errors.As(err, &pe); isParse != tc.wantParse {
				t.Errorf("errors.As(%v, *ParseError) = %v, want %v", err, isParse, tc.wantParse)
			}
			if isRef := errors.Is(err, ErrRefused); isRef != tc.wantRef {
				t.Errorf("errors.Is(%v, ErrRefused) = %v, want %v", err, isRef, tc.wantRef)
			}
			if strings.Contains(err.Error(), "payments") {
				t.Errorf("error %q reveals the policy", err)
			}
		})
	}
}

func TestRewriteQueryExperimentalAllowed(t *testing.T) {
	// Experimental functions other than info() only see what selectors return.
	p := mustPolicy(t, `{env="prod"}`, parser.Options{EnableExperimentalFunctions: true})
	for _, q := range []string{
		`sort_by_label(up, "job")`,
		`limitk(2, up)`,
		`double_exponential_smoothing(x[5m], 0.5, 0.5)`,
		`ts_of_max_over_time(x[5m])`,
		`mad_over_time(x[5m])`,
		`up offset step()`,
		`max_of(scalar(x), 1)`,
	} {
		got, err := p.RewriteQuery(q)
		if err != nil {
			t.Errorf("RewriteQuery(%q): %v", q, err)
			continue
		}
		if err := checkConfined(p, got); err != nil {
			t.Errorf("RewriteQuery(%q) = %q: %v", q, got, err)
		}
	}
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	if got, err := p.RewriteQuery(`sum(rate(x[5m]))`); err != nil || got != `sum(rate(x[5m]))` {
		t.Errorf("RewriteQuery = %q, %v; want input unchanged", got, err)
	}
	var pe *ParseError
	if _, err := p.RewriteQuery(`sum(`); !errors.As(err, &pe) {
		t.Errorf("RewriteQuery(bad) error %v, want *ParseError", err)
	}
	if got, err := p.RewriteMatchers(nil); err != nil || len(got) != 0 {
		t.Errorf("RewriteMatchers(nil) = %q, %v", got, err)
	}
	if got, err := p.RewriteMatchers([]string{`up`}); err != nil || !slices.Equal(got, []string{`up`}) {
		t.Errorf("RewriteMatchers = %q, %v", got, err)
	}
	if !p.Allows(labels.FromStrings("a", "b")) {
		t.Error("nil policy must allow everything")
	}
	if p.String() != "" || p.Matchers() != nil {
		t.Error("nil policy must have no text or matchers")
	}
}

func TestRewriteMatchers(t *testing.T) {
	const pol = `{asserts_env="prod",team=~"payments|risk"}`
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr bool
	}{
		{name: "none", in: nil, want: []string{pol}},
		{name: "empty slice", in: []string{}, want: []string{pol}},
		{name: "metric", in: []string{`up`}, want: []string{`{__name__="up",asserts_env="prod",team=~"payments|risk"}`}},
		{name: "two", in: []string{`up`, `{job="x"}`}, want: []string{
			`{__name__="up",asserts_env="prod",team=~"payments|risk"}`,
			`{asserts_env="prod",job="x",team=~"payments|risk"}`,
		}},
		{name: "everything", in: []string{`{__name__=~".+"}`}, want: []string{`{__name__=~".+",asserts_env="prod",team=~"payments|risk"}`}},
		{name: "contradiction", in: []string{`{asserts_env="dev"}`}, want: []string{`{asserts_env="dev",asserts_env="prod",team=~"payments|risk"}`}},
		{name: "utf8", in: []string{`{"my.metric","my.label"=~"a.*"}`}, want: []string{`{"my.label"=~"a.*",__name__="my.metric",asserts_env="prod",team=~"payments|risk"}`}},
		{name: "not a selector", in: []string{`sum(up)`}, wantErr: true},
		{name: "range", in: []string{`up[5m]`}, wantErr: true},
		// Prometheus accepts this match[] (all series); confined it is harmless.
		{name: "empty matcher only", in: []string{`{a=~".*"}`}, want: []string{`{a=~".*",asserts_env="prod",team=~"payments|risk"}`}},
		{name: "empty string", in: []string{``}, wantErr: true},
		{name: "one bad of two", in: []string{`up`, `up{`}, wantErr: true},
	}
	p := mustPolicy(t, testPolicy, parser.Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.RewriteMatchers(tc.in)
			if tc.wantErr {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("got %q, %v; want *ParseError", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for _, s := range got {
				if err := checkConfined(p, s); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestAllows(t *testing.T) {
	p := mustPolicy(t, `{asserts_env="prod", team=~"payments|risk", "my.label"!="x"}`, parser.Options{})
	tests := []struct {
		lbls labels.Labels
		want bool
	}{
		{labels.FromStrings("__name__", "up", "asserts_env", "prod", "team", "risk"), true},
		{labels.FromStrings("asserts_env", "prod", "team", "payments", "my.label", "y"), true},
		{labels.FromStrings("asserts_env", "prod", "team", "payments", "my.label", "x"), false},
		{labels.FromStrings("asserts_env", "dev", "team", "risk"), false},
		{labels.FromStrings("asserts_env", "prod", "team", "riskier"), false}, // regex is anchored
		{labels.FromStrings("asserts_env", "prod"), false},
		{labels.FromStrings("team", "risk"), false},
		{labels.EmptyLabels(), false},
	}
	for _, tc := range tests {
		if got := p.Allows(tc.lbls); got != tc.want {
			t.Errorf("Allows(%s) = %v, want %v", tc.lbls, got, tc.want)
		}
	}
}

func TestMatchersIsCopy(t *testing.T) {
	p := mustPolicy(t, testPolicy, parser.Options{})
	ms := p.Matchers()
	ms[0] = labels.MustNewMatcher(labels.MatchRegexp, "asserts_env", ".*")
	if got := p.Matchers()[0]; got.Type != labels.MatchEqual {
		t.Fatalf("policy changed through Matchers(): %s", got)
	}
}

// TestRewriteDoesNotShareState checks that rewriting one query does not
// change the policy or what a later rewrite produces.
func TestRewriteDoesNotShareState(t *testing.T) {
	p := mustPolicy(t, `{env="prod"}`, parser.Options{})
	a, _ := p.RewriteQuery(`up{job="a"} + up{job="b"}`)
	b, _ := p.RewriteQuery(`up{job="a"} + up{job="b"}`)
	if a != b || p.String() != `{env="prod"}` {
		t.Fatalf("rewrites differ: %q vs %q (policy %q)", a, b, p)
	}
}

// alienExpr stands for a node type a future parser might add.
type alienExpr struct{ parser.NumberLiteral }

func TestRewriteExprFailsClosed(t *testing.T) {
	p := mustPolicy(t, `{env="prod"}`, parser.Options{})
	up := &parser.VectorSelector{Name: "up", LabelMatchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "up")}}
	tests := []struct {
		name string
		expr parser.Expr
	}{
		{"unknown node type", &parser.BinaryExpr{Op: parser.ADD, LHS: up, RHS: &alienExpr{}}},
		{"matrix over non-selector", &parser.MatrixSelector{VectorSelector: &parser.NumberLiteral{Val: 1}}},
		{"call without function", &parser.Call{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.RewriteExpr(tc.expr); err == nil {
				t.Fatal("want error")
			}
			if len(up.LabelMatchers) != 1 {
				t.Fatalf("selector changed despite the error: %s", up)
			}
		})
	}
}

// TestConcurrentUse runs one Policy from many goroutines, as the proxy will.
func TestConcurrentUse(t *testing.T) {
	p := mustPolicy(t, testPolicy, parser.Options{})
	want, err := p.RewriteQuery(`sum by (job) (rate(x{job=~"a.*"}[5m])) or on() vector(0)`)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				got, err := p.RewriteQuery(`sum by (job) (rate(x{job=~"a.*"}[5m])) or on() vector(0)`)
				if err == nil && got != want {
					err = fmt.Errorf("got %q, want %q", got, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
